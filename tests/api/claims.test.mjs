// Issue 6: claims. Build a month from the demo visits, see one invalid visit named by visit/table/field/rule,
// fix it through the visits API, rebuild, submit through the outbox to the simulated assessment portal, see the
// visits accepted with the portal's transaction code; one refusal recorded per visit with its code, fixed and
// resubmitted; nothing sent twice (the simulator's /_sim/received?kind=claims counts); the signed file; the
// drill-down to one visit's tables; roles and facility scope.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startServer, BIN } from '../lib/server.mjs';

let sim, srv, officer, doctor, month, batch;

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
  });
  const call = async (method, path, body) => {
    const r = await fetch(url + path, { method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
    return r.json();
  };
  return {
    url, proc,
    reject: (b) => call('POST', '/_sim/claims/reject', b),
    received: () => call('GET', '/_sim/received?kind=claims'),
    stop: () => new Promise((r) => { if (proc.exitCode !== null || proc.signalCode !== null) return r(); proc.on('exit', r); proc.kill('SIGTERM'); }),
  };
}

async function until(fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 150));
  }
}

const getBatch = async (q = '') => (await officer.get(`/api/v1/claims/batches/${batch}?limit=200${q}`)).json;

async function amend(visitId, body) {
  const g = await doctor.get(`/api/v1/visits/${visitId}`);
  assert.equal(g.status, 200, g.text);
  const r = await doctor.patch(`/api/v1/visits/${visitId}`, { ...body, amend_reason: 'sửa theo giám định' },
    { 'If-Match': g.headers.get('etag') });
  assert.equal(r.status, 200, r.text);
}

before(async () => {
  sim = await startSim();
  srv = await startServer({ env: { HIS_CLAIMS_PORTAL_URL: sim.url, HIS_OUTBOX_BACKOFF_MAX_MS: '1000' } });
  officer = await srv.login('bh.minh');
  doctor = await srv.login('bs.an');
  // The latest whole month of demo visits at 19010 with insured, closed visits.
  month = srv.sql(`SELECT to_char(v.discharged_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM') m FROM clinical.visits v
    JOIN core.facilities f ON f.id = v.facility_id WHERE f.code = '19010' AND v.state = 'closed' AND v.route <> 'uninsured'
    GROUP BY 1 HAVING count(*) >= 10 ORDER BY 1 DESC OFFSET 1 LIMIT 1`);
});

after(async () => {
  await srv?.stop();
  await sim?.stop();
});

test('a month is built; a visit without department is invalid, named by visit, table, field and rule', async () => {
  // One visit of the month loses its department (as a visit recorded without one would be).
  const vid = srv.sql(`SELECT v.id FROM clinical.visits v JOIN core.facilities f ON f.id = v.facility_id
    WHERE f.code = '19010' AND v.state = 'closed' AND v.route <> 'uninsured'
      AND to_char(v.discharged_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM') = '${month}' ORDER BY v.id LIMIT 1`);
  srv.sql(`UPDATE clinical.visits SET department = NULL WHERE id = ${vid}`);
  const r = await officer.post('/api/v1/claims/batches', { month, facility: '19010' });
  assert.equal(r.status, 201, r.text);
  batch = r.json.id;
  assert.ok(r.json.visits >= 10);
  const b = await getBatch();
  assert.equal(b.counts.visits, r.json.visits);
  assert.equal(b.counts.invalid, 1, JSON.stringify(b.items.filter((i) => i.state === 'invalid')));
  const bad = b.items.find((i) => i.state === 'invalid');
  assert.equal(bad.visit_id, Number(vid));
  const issue = bad.issues.find((i) => i.table === 'XML1' && i.field === 'MA_KHOA');
  assert.ok(issue, JSON.stringify(bad.issues));
  assert.equal(issue.rule, 'xsd');
  assert.equal(issue.ma_lk, bad.ma_lk);
  // Amounts by payer, as exact decimal strings that add up.
  const a = b.amounts;
  const cents = (s) => BigInt(s.replace('.', ''));
  assert.equal(cents(a.insurer) + cents(a.patient_copay) + cents(a.patient_out_of_scope) + cents(a.other_funding),
    cents(a.total));
  // A second batch for the same month is refused: rebuild instead.
  const again = await officer.post('/api/v1/claims/batches', { month, facility: '19010' });
  assert.equal(again.status, 409);
  // Only the user's own facility.
  const other = await officer.post('/api/v1/claims/batches', { month, facility: '19020' });
  assert.equal(other.status, 422);
  assert.equal(other.json.errors[0].field, 'facility');
  // Fix the visit through the visits API, rebuild: valid.
  await amend(vid, { department: 'K01' });
  const rb = await officer.post(`/api/v1/claims/batches/${batch}/rebuild`, {});
  assert.equal(rb.status, 200, rb.text);
  const b2 = await getBatch();
  assert.equal(b2.counts.invalid, 0);
  assert.equal(b2.counts.ready, b2.counts.visits);
});

test('drill-down to one visit\'s tables, and the signed file', async () => {
  const b = await getBatch();
  const it = b.items[0];
  const d = await officer.get(`/api/v1/claims/batches/${batch}/visits/${it.visit_id}`);
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.tables.XML1.MA_LK, it.ma_lk);
  assert.equal(d.json.tables.XML1.MA_CSKCB, '19010');
  assert.match(d.json.tables.XML1.NGAY_VAO, /^\d{12}$/);
  assert.equal(d.json.tables.XML1.T_TONGCHI_BV, it.amounts.total);
  assert.ok(Array.isArray(d.json.tables.XML3) && d.json.tables.XML3.length >= 1);
  const f = await officer.get(`/api/v1/claims/batches/${batch}/file`);
  assert.equal(f.status, 200);
  assert.match(f.headers.get('content-type'), /application\/xml/);
  assert.match(f.text, /^<\?xml version="1.0" encoding="utf-8"\?>\n<GIAMDINHHS><THONGTINDONVI><MACSKCB>19010<\/MACSKCB>/);
  assert.match(f.text, new RegExp(`<SOLUONGHOSO>${b.counts.visits}</SOLUONGHOSO>`));
  assert.match(f.text, /<CHUKYDONVI><Signature xmlns="http:\/\/www.w3.org\/2000\/09\/xmldsig#">.*<X509Certificate>/s);
});

test('submit: accepted with the portal\'s transaction code; a refusal kept per visit; nothing sent twice', async () => {
  const b = await getBatch();
  const victim = b.items[1];
  await sim.reject({ ma_lk: victim.ma_lk, code: 'THE_HET_HAN', table: 'XML1', field: 'GT_THE_DEN',
    message: 'Thẻ BHYT hết hạn sử dụng (mô phỏng)' });
  const s = await officer.post(`/api/v1/claims/batches/${batch}/submit`, {});
  assert.equal(s.status, 202, s.text);
  assert.equal(s.json.queued, b.counts.visits);
  const done = await until(async () => { const x = await getBatch(); return x.counts.sent === 0 ? x : null; });
  assert.equal(done.counts.accepted, b.counts.visits - 1);
  assert.equal(done.counts.rejected, 1);
  const rej = done.items.find((i) => i.state === 'rejected');
  assert.equal(rej.ma_lk, victim.ma_lk);
  assert.equal(rej.rejection.danhSachLoi[0].maLoi, 'THE_HET_HAN');
  assert.equal(rej.rejection.danhSachLoi[0].truong, 'GT_THE_DEN');
  assert.ok(rej.transaction_code);
  for (const i of done.items.filter((x) => x.state === 'accepted')) assert.match(i.transaction_code, /^GD19010\d{14}/);
  // Submitting again sends nothing: accepted ones never again, the refused one not until it changes.
  const s2 = await officer.post(`/api/v1/claims/batches/${batch}/submit`, {});
  assert.equal(s2.json.queued, 0);
  assert.equal(s2.json.skipped_rejected, 1);
  const rb = await officer.post(`/api/v1/claims/batches/${batch}/rebuild`, {});
  assert.equal(rb.status, 200);
  assert.equal((await getBatch()).counts.rejected, 1);
  let got = await sim.received();
  assert.equal(got.length, b.counts.visits);
  for (const e of got) {
    assert.equal(e.sends, 1, JSON.stringify(e));
    assert.equal(e.count, e.code === victim.ma_lk ? 0 : 1, JSON.stringify(e));
  }
  // Fix the refused visit, rebuild, resubmit: accepted, and still one record per visit at the portal.
  await amend(victim.visit_id, { notes: 'Bổ sung thông tin thẻ BHYT theo giám định' });
  await officer.post(`/api/v1/claims/batches/${batch}/rebuild`, {});
  const b3 = await getBatch();
  assert.equal(b3.items.find((i) => i.visit_id === victim.visit_id).state, 'ready');
  const s3 = await officer.post(`/api/v1/claims/batches/${batch}/submit`, {});
  assert.equal(s3.json.queued, 1);
  const fin = await until(async () => { const x = await getBatch(); return x.counts.sent === 0 ? x : null; });
  assert.equal(fin.counts.accepted, b.counts.visits);
  const v = await officer.get(`/api/v1/claims/batches/${batch}/visits/${victim.visit_id}`);
  assert.deepEqual(v.json.submissions.map((x) => x.state), ['rejected', 'accepted']);
  got = await sim.received();
  const e = got.find((x) => x.code === victim.ma_lk);
  assert.deepEqual([e.count, e.sends, e.rejected], [1, 2, 1]);
  assert.ok(got.every((x) => x.count === 1));
});

test('claims officer and admin only; other facilities see nothing', async () => {
  const r = await doctor.get(`/api/v1/claims/batches/${batch}`);
  assert.equal(r.status, 403);
  const admin = await srv.login('admin');
  assert.equal((await admin.get(`/api/v1/claims/batches/${batch}`)).status, 200);
  srv.sql(`UPDATE core.users SET facility_id = (SELECT id FROM core.facilities WHERE code = '19020') WHERE username = 'bh.minh'`);
  const moved = await srv.login('bh.minh');
  assert.equal((await moved.get(`/api/v1/claims/batches/${batch}`)).status, 404);
});
