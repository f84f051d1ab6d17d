// Issue 8 point 6 (the dashboard part): the health department user opens the
// provincial dashboard, filters to one district, and the numbers shown equal
// the database; every chart has a table and a CSV link; English switch; a
// screenshot is kept in tests/e2e/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, login, shot } from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { if (env) await env.close(); });

const sql = (q) => env.server.sql(q);
const int = (s) => Number(String(s).replace(/[^\d]/g, '') || 0);

async function column(page, chart, col) {
  return page.locator(`[data-testid="table-${chart}"] tbody td[data-col="${col}"]`).allInnerTexts();
}

test('syt.thu opens the dashboard, filters to district 19010, and the numbers equal the database', async () => {
  const page = await env.newPage({ viewport: { width: 1440, height: 900 } });
  await login(page, 'syt.thu');
  await page.getByRole('link', { name: 'Bảng điều khiển tỉnh' }).click();
  await page.getByTestId('dashboard-title').waitFor();
  assert.equal(await page.getByTestId('dashboard-title').innerText(), 'Bảng điều khiển y tế tỉnh');
  await page.locator('[data-testid="dash-charts"][data-loaded]').waitFor();

  const to = sql(`SELECT to_char(dash.vn_day(now()), 'YYYY-MM-DD')`);
  const from = sql(`SELECT to_char(dash.vn_day(now()) - 364, 'YYYY-MM-DD')`);
  await page.fill('#dash-from', from);
  await page.fill('#dash-to', to);
  await page.getByTestId('dash-district').selectOption('19010');
  await page.getByTestId('dash-apply').click();
  await page.locator(`[data-testid="dash-charts"][data-loaded="${from}|${to}|19010"]`).waitFor();
  assert.match(page.url(), /\/dashboard\?from=.*&district=19010$/);

  const fac = `(SELECT dash.district_facilities('19010'))`;
  const communes = `(SELECT dash.district_communes_of('19010'))`;
  const period = (col) => `dash.vn_day(${col}) BETWEEN '${from}' AND '${to}'`;

  // visits: the table's total and its number of days
  const visits = (await column(page, 'visits-per-day', 'visits')).map(int);
  assert.equal(visits.reduce((a, b) => a + b, 0),
    Number(sql(`SELECT count(*) FROM clinical.visits WHERE facility_id IN ${fac} AND ${period('received_at')}`)));
  assert.ok(visits.length > 100);

  // top diagnoses: codes and counts in order
  const codes = await column(page, 'top-diagnoses', 'icd10');
  const cases = (await column(page, 'top-diagnoses', 'cases')).map(int);
  const top = sql(`SELECT d.icd10 || ' ' || count(*) FROM clinical.visit_diagnoses d JOIN clinical.visits v ON v.id = d.visit_id
    WHERE d.is_primary AND v.facility_id IN ${fac} AND ${period('v.received_at')}
    GROUP BY d.icd10 ORDER BY count(*) DESC, d.icd10 LIMIT 10`).split('\n');
  assert.deepEqual(codes.map((c, i) => `${c} ${cases[i]}`), top);

  // notifiable diseases: every case of the district's communes, and the alerts
  const ncases = (await column(page, 'notifiable-diseases', 'cases')).map(int);
  const nbase = Number(sql(`SELECT count(*) FROM clinical.visit_diagnoses d JOIN clinical.visits v ON v.id = d.visit_id
    JOIN clinical.patients p ON p.id = v.patient_id
    WHERE dash.disease_of(d.icd10) IS NOT NULL AND coalesce(p.commune_code, '') IN ${communes}
      AND date_trunc('week', dash.vn_day(v.received_at)) >= date_trunc('week', '${from}'::date) AND dash.vn_day(v.received_at) <= '${to}'`));
  assert.equal(ncases.reduce((a, b) => a + b, 0), nbase);
  assert.ok(nbase > 0);
  const alerts = await page.locator('[data-testid="table-notifiable-diseases"] tr.dash-alert-row').count();
  assert.equal(Number(await page.getByTestId('notifiable-alerts').getAttribute('data-count')), alerts);

  // record coverage: records and people of the district's communes
  const cov = page.getByTestId('coverage-total');
  const [rec, ppl] = sql(`SELECT count(h.patient_id) || ' ' || count(*) FROM clinical.patients p
    LEFT JOIN clinical.health_records h ON h.patient_id = p.id
    WHERE p.merged_into IS NULL AND coalesce(p.commune_code, '') IN ${communes}`).split(' ').map(Number);
  assert.equal(Number(await cov.getAttribute('data-records')), rec);
  assert.equal(Number(await cov.getAttribute('data-people')), ppl);
  assert.match(await cov.innerText(), new RegExp(`${rec.toLocaleString('vi-VN').replace('.', '\\.')} hồ sơ`));

  // referrals out of or into the district
  const refs = (await column(page, 'referrals', 'referrals')).map(int);
  assert.equal(refs.reduce((a, b) => a + b, 0), Number(sql(`SELECT count(*) FROM clinical.visits v WHERE v.referral_to IS NOT NULL
    AND ${period('coalesce(v.discharged_at, v.received_at)')}
    AND (v.facility_id IN ${fac} OR v.referral_to IN (SELECT code FROM core.facilities WHERE id IN ${fac}))`)));

  // every chart: a canvas when there are rows, a table, a CSV link with the same filter
  for (const id of ['visits-per-day', 'top-diagnoses', 'notifiable-diseases', 'record-coverage', 'prescriptions', 'claims', 'referrals']) {
    await page.getByTestId(`table-${id}`).waitFor();
    const href = await page.getByTestId(`csv-${id}`).getAttribute('href');
    assert.equal(href, `/api/v1/dashboard/${id}?from=${from}&to=${to}&district=19010&format=csv`);
  }
  assert.ok(await page.locator('[data-testid="dash-visits-per-day"] canvas').count() === 1);
  const csv = await page.evaluate(async (u) => { const r = await fetch(u); return { type: r.headers.get('content-type'), text: await r.text() }; },
    await page.getByTestId('csv-visits-per-day').getAttribute('href'));
  assert.equal(csv.type, 'text/csv; charset=utf-8');
  assert.equal(csv.text.replace(/^\uFEFF/, '').split('\r\n')[0], 'day,level,visits');

  await page.waitForTimeout(300); // let the charts finish drawing before the picture
  await shot(page, 'dashboard-19010');

  // English: the same figures, English labels
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await page.getByRole('heading', { name: 'Provincial health dashboard' }).waitFor();
  await page.locator(`[data-testid="dash-charts"][data-loaded="${from}|${to}|19010"]`).waitFor();
  await page.getByRole('heading', { name: 'Notifiable diseases by commune and week' }).waitFor();
  const visitsEn = (await column(page, 'visits-per-day', 'visits')).map(int);
  assert.deepEqual(visitsEn, visits);
  await shot(page, 'dashboard-19010-en');
  await page.getByRole('button', { name: 'Chuyển sang tiếng Việt' }).click();
  await page.getByRole('heading', { name: 'Bảng điều khiển y tế tỉnh' }).waitFor();
  assert.deepEqual(page.problems, []);
});

test('other roles do not get the dashboard', async () => {
  const page = await env.newPage();
  await login(page, 'bs.an');
  await page.goto('/dashboard');
  await page.getByRole('heading', { name: 'Vai trò của bạn không được mở trang này' }).waitFor();
  assert.equal(await page.getByTestId('dash-charts').count(), 0);
});
