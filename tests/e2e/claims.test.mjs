// Issue 6 point 5, the claims officer's screen: bh.minh builds a month on
// screen, sees the month overview (visits, amounts by payer, counts by state)
// and the one invalid visit named by table, field and rule; drills down to its
// tables; the visit is fixed (through the visits API, as the doctor would in
// the visit form), the batch rebuilt and submitted to the simulated
// assessment portal; one claim refused by the portal shows its code, is fixed
// and resubmitted; all end accepted with the portal's transaction codes. The
// database and the simulator agree at each step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { launch, login, shot } from './helpers.mjs';
import { startServer, BIN } from '../lib/server.mjs';

let sim, server, browser, doctor;
const contexts = [];

async function startSim() {
  const proc = spawn(BIN, ['portal-sim', '--listen', '127.0.0.1:0'], {
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('portal-sim did not start')), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+?)\/?\n/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (c) => { clearTimeout(timer); reject(new Error(`portal-sim exited ${c}`)); });
  });
  const call = async (method, path, body) => {
    const r = await fetch(url + path, { method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
    return r.json();
  };
  return {
    url,
    reject: (b) => call('POST', '/_sim/claims/reject', b),
    received: () => call('GET', '/_sim/received?kind=claims'),
    stop: () => new Promise((r) => { if (proc.exitCode !== null || proc.signalCode !== null) return r(); proc.on('exit', r); proc.kill('SIGTERM'); }),
  };
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, baseURL: server.url, locale: 'vi-VN' });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push(`console: ${m.text()}`);
    if (/Content Security Policy/i.test(m.text())) page.problems.push(`csp: ${m.text()}`);
  });
  return page;
}

// A closed visit is corrected with an amendment (a new version), as the doctor does.
async function amend(visitId, body) {
  const g = await doctor.get(`/api/v1/visits/${visitId}`);
  assert.equal(g.status, 200, g.text);
  const r = await doctor.patch(`/api/v1/visits/${visitId}`, { ...body, amend_reason: 'sửa theo giám định' },
    { 'If-Match': g.headers.get('etag') });
  assert.equal(r.status, 200, r.text);
}

// "1234567.50" as the Vietnamese screen writes it: 1.234.567,5 (no trailing zeros)
function vnd(s) {
  const [i, f = ''] = s.split('.');
  const frac = f.replace(/0+$/, '');
  return i.replace(/\B(?=(\d{3})+(?!\d))/g, '.') + (frac ? ',' + f : '');
}

before(async () => {
  sim = await startSim();
  server = await startServer({ env: { HIS_CLAIMS_PORTAL_URL: sim.url, HIS_OUTBOX_BACKOFF_MAX_MS: '1000' } });
  browser = await launch();
  doctor = await server.login('bs.an');
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
  if (sim) await sim.stop();
});

const count = (page, state) => page.getByTestId(`count-${state}`);
const countOf = async (page, state) => Number(await count(page, state).getAttribute('data-n'));
const rowOf = (page, vid) => page.getByTestId('claim-row').and(page.locator(`[data-visit="${vid}"]`));

test('build a month, see one invalid visit, fix it, submit, see it accepted', async () => {
  // The latest whole month of demo visits at 19010 with closed insured visits.
  const month = server.sql(`SELECT to_char(v.discharged_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM') m FROM clinical.visits v
    JOIN core.facilities f ON f.id = v.facility_id WHERE f.code = '19010' AND v.state = 'closed' AND v.route <> 'uninsured'
    GROUP BY 1 HAVING count(*) >= 10 ORDER BY 1 DESC OFFSET 1 LIMIT 1`);
  assert.match(month, /^\d{4}-\d{2}$/);
  // One visit of the month was recorded without a department.
  const bad = server.sql(`SELECT v.id FROM clinical.visits v JOIN core.facilities f ON f.id = v.facility_id
    WHERE f.code = '19010' AND v.state = 'closed' AND v.route <> 'uninsured'
      AND to_char(v.discharged_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM') = '${month}' ORDER BY v.id LIMIT 1`);
  server.sql(`UPDATE clinical.visits SET department = NULL WHERE id = ${bad}`);

  const page = await newPage();
  await login(page, 'bh.minh');
  assert.equal(await page.getByTestId('workspace-title').innerText(), 'Giám định bảo hiểm y tế');
  await page.getByTestId('claims-month').fill(month);
  await page.getByTestId('build-batch').click();
  await page.getByTestId('batch-overview').waitFor();
  const batch = server.sql(`SELECT id FROM claims.batches WHERE month = '${month}-01'`);
  assert.ok(batch, 'batch stored');
  assert.equal(new URL(page.url()).pathname, `/claims/batches/${batch}`);

  // The month overview: visits, one invalid, the rest ready; amounts by payer as the database has them
  const visits = Number(server.sql(`SELECT count(*) FROM claims.batch_items WHERE batch_id = ${batch}`));
  assert.ok(visits >= 10);
  assert.equal(await countOf(page, 'visits'), visits);
  assert.equal(await countOf(page, 'invalid'), 1);
  assert.equal(await countOf(page, 'ready'), visits - 1);
  const sums = server.sql(`SELECT sum(t_tongchi_bv) || '|' || sum(t_bhtt) || '|' || sum(t_bncct) || '|' || sum(t_bntt) FROM claims.batch_items WHERE batch_id = ${batch}`).split('|');
  const amounts = page.getByTestId('amounts');
  for (const [k, v] of [['total', sums[0]], ['insurer', sums[1]], ['patient_copay', sums[2]], ['patient_out_of_scope', sums[3]]]) {
    assert.equal((await amounts.locator(`[data-amount="${k}"] dd`).innerText()).replace(/\s*₫$/, ''), vnd(v), k);
  }
  // The invalid visit, named by table, field and rule
  const badRow = rowOf(page, bad);
  assert.equal(await badRow.getAttribute('data-state'), 'invalid');
  const issue = badRow.locator('[data-testid="issues"] li[data-table="XML1"][data-field="MA_KHOA"]');
  assert.equal(await issue.getAttribute('data-rule'), 'xsd');
  assert.match(await issue.innerText(), /XML1 · MA_KHOA/);
  assert.equal(server.sql(`SELECT state || '|' || (issues->0->>'table') || '|' || (issues->0->>'field') FROM claims.batch_items WHERE batch_id = ${batch} AND visit_id = ${bad}`),
    'invalid|XML1|MA_KHOA');
  await shot(page, 'claims-1-month-invalid');

  // Drill down to the visit's tables: the field is marked in XML1
  await badRow.getByTestId('open-claim').click();
  await page.getByTestId('claim-issues').waitFor();
  const maLk = server.sql(`SELECT ma_lk FROM clinical.visits WHERE id = ${bad}`);
  await page.getByRole('heading', { level: 1, name: new RegExp(maLk) }).waitFor();
  const cell = page.getByTestId('table-XML1').locator('[data-field="MA_KHOA"]');
  assert.match(await cell.getAttribute('class'), /cell-error/);
  assert.equal(await page.getByTestId('table-XML1').locator('[data-field="MA_LK"] dd').innerText(), maLk);
  assert.equal(await page.getByTestId('table-XML1').locator('[data-field="MA_CSKCB"] dd').innerText(), '19010');
  // the other tables are one click away
  await page.getByRole('tab', { name: /XML3/ }).click();
  await page.getByTestId('table-XML3').locator('tbody tr').first().waitFor();
  await page.getByRole('tab', { name: /XML1/ }).click();
  assert.equal(await page.getByTestId('fix-visit').getAttribute('href'), `/visits/${bad}`);
  await shot(page, 'claims-2-visit-tables');

  // The doctor fixes the visit; the officer rebuilds: no invalid visit left
  await amend(bad, { department: 'K01' });
  await page.getByRole('link', { name: 'Hồ sơ', exact: true }).click();
  await page.getByTestId('batch-overview').waitFor();
  await page.getByTestId('rebuild').click();
  await page.getByText('Đã dựng lại hồ sơ theo dữ liệu mới nhất.').waitFor();
  assert.equal(await countOf(page, 'invalid'), 0);
  assert.equal(await countOf(page, 'ready'), visits);
  assert.equal(await rowOf(page, bad).getAttribute('data-state'), 'ready');
  assert.equal(server.sql(`SELECT count(*) FILTER (WHERE state = 'ready') FROM claims.batch_items WHERE batch_id = ${batch}`), String(visits));

  // The portal will refuse one claim (card expired, as the assessment would say)
  const victim = server.sql(`SELECT visit_id || '|' || ma_lk FROM claims.batch_items WHERE batch_id = ${batch} AND visit_id <> ${bad} ORDER BY id LIMIT 1`).split('|');
  await sim.reject({ ma_lk: victim[1], code: 'THE_HET_HAN', table: 'XML1', field: 'GT_THE_DEN', message: 'Thẻ BHYT hết hạn sử dụng (mô phỏng)' });

  // Submit, confirmed; the screen follows the portal's answers
  await page.getByTestId('submit-batch').click();
  assert.match(await page.getByTestId('submit-confirm-text').innerText(), new RegExp(`Gửi ${visits} hồ sơ`));
  await page.getByTestId('confirm-submit').click();
  await page.getByText(`Đã đưa ${visits} hồ sơ vào hàng đợi gửi cổng.`).waitFor();
  await count(page, 'accepted').and(page.locator(`[data-n="${visits - 1}"]`)).waitFor({ timeout: 30000 });
  await count(page, 'rejected').and(page.locator('[data-n="1"]')).waitFor();
  assert.equal(await countOf(page, 'sent'), 0);
  // accepted ones carry the portal's transaction code; the refused one its code and field
  const okRow = rowOf(page, bad);
  assert.equal(await okRow.getAttribute('data-state'), 'accepted');
  const tx = await okRow.getByTestId('transaction-code').innerText();
  assert.match(tx, /^GD19010\d{14}/);
  assert.equal(server.sql(`SELECT transaction_code FROM claims.batch_items WHERE batch_id = ${batch} AND visit_id = ${bad}`), tx);
  const rej = rowOf(page, victim[0]);
  assert.equal(await rej.getAttribute('data-state'), 'rejected');
  const code = rej.locator('[data-testid="rejection"] li[data-code="THE_HET_HAN"]');
  assert.equal(await code.getAttribute('data-field'), 'GT_THE_DEN');
  assert.match(await code.innerText(), /THE_HET_HAN XML1 · GT_THE_DEN Thẻ BHYT hết hạn/);
  await shot(page, 'claims-3-submitted-one-rejected');
  assert.equal(server.sql(`SELECT state || '|' || (rejection->'danhSachLoi'->0->>'maLoi') FROM claims.batch_items WHERE batch_id = ${batch} AND visit_id = ${victim[0]}`),
    'rejected|THE_HET_HAN');

  // Fixed and resubmitted: accepted; the portal holds each visit once
  await amend(victim[0], { notes: 'Bổ sung thông tin thẻ BHYT theo giám định' });
  await page.getByTestId('rebuild').click();
  await page.getByText('Đã dựng lại hồ sơ theo dữ liệu mới nhất.').waitFor();
  await count(page, 'ready').and(page.locator('[data-n="1"]')).waitFor();
  await page.getByTestId('submit-batch').click();
  await page.getByTestId('confirm-submit').click();
  await count(page, 'accepted').and(page.locator(`[data-n="${visits}"]`)).waitFor({ timeout: 30000 });
  assert.equal(await countOf(page, 'rejected'), 0);
  assert.equal(await rowOf(page, victim[0]).getAttribute('data-state'), 'accepted');
  await shot(page, 'claims-4-all-accepted');
  assert.equal(server.sql(`SELECT count(*) FILTER (WHERE state = 'accepted' AND transaction_code LIKE 'GD19010%') FROM claims.batch_items WHERE batch_id = ${batch}`), String(visits));
  const got = await sim.received();
  assert.equal(got.length, visits);
  assert.ok(got.every((e) => e.count === 1), JSON.stringify(got));

  // The refused claim's history: refused, then accepted
  await rowOf(page, victim[0]).getByTestId('open-claim').click();
  const subs = page.getByTestId('submissions');
  await subs.waitFor();
  assert.deepEqual(await subs.locator('[data-testid="claim-state"]').evaluateAll((els) => els.map((e) => e.dataset.state)), ['rejected', 'accepted']);

  // The overview in English
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await page.getByRole('heading', { level: 1, name: /^Claim / }).waitFor();
  await page.goto(`/claims/batches/${batch}`);
  await page.getByRole('heading', { name: 'Month overview' }).waitFor();
  await shot(page, 'claims-5-overview-en');
  assert.deepEqual(page.problems, []);
});

test('the claims screens are the claims officer\'s: a doctor is refused', async () => {
  const page = await newPage();
  await login(page, 'bs.an');
  await page.goto('/claims');
  await page.getByRole('heading', { name: 'Vai trò của bạn không được mở trang này' }).waitFor();
  assert.equal(await page.getByRole('navigation').getByRole('link', { name: 'Hồ sơ BHYT' }).count(), 0);
});
