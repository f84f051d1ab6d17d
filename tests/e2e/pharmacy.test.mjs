// Issue 5 point 6, the pharmacy screens: (a) bs.an prescribes inside a visit
// (drug look-up without diacritics, limits shown as you type), sees the
// national code and the portal's delivery state; ds.lan looks the code up,
// dispenses part, then the rest, and sees the lots used and the remaining
// quantities; the database agrees at each step. (b) An over-limit narcotic
// prescription is marked as you type and refused by the server with the
// reason next to the days field; nothing is stored. (c) The portal's refusal
// with its reasons, then cancel and replace.
// (d) The stock screen: lots, near-expiry/expired list, a receipt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { launch, login, shot } from './helpers.mjs';
import { startServer, BIN } from '../lib/server.mjs';

let sim, server, browser, doctorApi;
const contexts = [];

// The national portals' stand-in, so that the delivery state moves on.
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
  return {
    url,
    received: async (kind) => (await fetch(`${url}/_sim/received?kind=${kind}`)).json(),
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

before(async () => {
  sim = await startSim();
  server = await startServer({ env: { HIS_RX_PORTAL_URL: sim.url, HIS_PHARMACY_PORTAL_URL: sim.url, HIS_OUTBOX_BACKOFF_MAX_MS: '1000' } });
  browser = await launch();
  doctorApi = await server.login('bs.an');
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
  if (sim) await sim.stop();
});

// An open visit of a 19010 patient, started through the API (the visit
// screens are tested in doctor.test.mjs); the diagnosis is chosen on screen.
let patientSeq = 0;
async function openVisit() {
  const pid = server.sql(`SELECT p.id FROM clinical.patients p JOIN core.facilities f ON f.id = p.facility_id
    WHERE f.code = '19010' AND p.birth_date < '1990-01-01' ORDER BY p.id OFFSET ${patientSeq++} LIMIT 1`);
  const r = await doctorApi.post('/api/v1/visits', { patient_id: Number(pid), kind: 'outpatient' });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function diagnose(page, code, query) {
  await page.getByTestId('icd10-input').fill(query);
  await page.locator(`[role="option"][data-code="${code}"]`).click();
  await page.getByTestId('diagnoses').locator(`[data-code="${code}"]`).waitFor();
}

async function addDrug(page, query, code) {
  const input = page.getByTestId('rx-drug-input');
  await input.fill(query);
  const opt = page.locator(`[role="option"][data-code="${code}"]`);
  await opt.waitFor();
  await opt.click();
  return page.getByTestId('rx-row').and(page.locator(`[data-code="${code}"]`));
}

const row = (page, code) => page.getByTestId('disp-row').and(page.locator(`[data-code="${code}"]`));

test('a doctor prescribes in a visit; a pharmacist dispenses part, then the rest', async () => {
  const vid = await openVisit();
  const doc = await newPage();
  await login(doc, 'bs.an');
  await doc.goto(`/visits/${vid}`);
  await doc.getByTestId('rx-panel').waitFor();
  await diagnose(doc, 'J06.9', 'ho hap tren cap');

  // Look-up without diacritics; the type follows the first drug, the limit shows at once
  const para = await addDrug(doc, 'paracetamol 500', 'T0001');
  assert.equal(await doc.getByTestId('rx-type').inputValue(), 'C');
  await para.getByTestId('rx-qty').fill('15');
  await para.getByTestId('rx-dosage').fill('Uống 1 viên x 3 lần/ngày khi sốt');
  await para.getByTestId('rx-days').fill('5');
  const amox = await addDrug(doc, 'amoxicilin', 'T0007');
  await amox.getByTestId('rx-qty').fill('20');
  await amox.getByTestId('rx-dosage').fill('Uống 2 viên x 2 lần/ngày');
  await amox.getByTestId('rx-days').fill('5');
  assert.match(await doc.getByTestId('rx-limit').innerText(), /Tối đa 30 ngày/);
  assert.match(await amox.getByTestId('days-limit').innerText(), /tối đa 30/);
  await shot(doc, 'pharmacy-1-prescription-form');

  await doc.getByTestId('issue-rx').click();
  const card = doc.getByTestId('rx-card').first();
  await card.waitFor();
  const code = (await card.getByTestId('rx-code').innerText()).trim();
  assert.match(code, /^19010[0-9a-z]{7}-C$/);
  await doc.getByText(`Đã kê đơn ${code}`).waitFor();
  // The national portal (the simulator) receives it: the card says so
  await card.locator('[data-testid="portal-state"][data-state="acknowledged"]').waitFor({ timeout: 20000 });
  assert.match(await card.getByTestId('portal-state').innerText(), /Cổng đã nhận/);
  await shot(doc, 'pharmacy-2-prescription-issued');

  // The database: the prescription, its items, the visit's diagnosis saved first
  assert.equal(server.sql(`SELECT type || '|' || state || '|' || visit_id FROM pharmacy.prescriptions WHERE code = '${code}'`), `C|active|${vid}`);
  assert.equal(server.sql(`SELECT string_agg(drug_code || ':' || quantity || ':' || unit || ':' || days || ':' || dispensed, ',' ORDER BY seq)
    FROM pharmacy.prescription_items i JOIN pharmacy.prescriptions p ON p.id = i.prescription_id WHERE p.code = '${code}'`),
  'T0001:15:viên:5:0,T0007:20:viên:5:0');
  assert.equal(server.sql(`SELECT string_agg(icd10, ',') FROM clinical.visit_diagnoses WHERE visit_id = ${vid}`), 'J06.9');
  const got = await sim.received('prescription');
  assert.equal(got.filter((x) => x.code === code).map((x) => x.count).join(), '1');

  // The pharmacist: look-up by code (typed like a scanner, with a trailing newline)
  const ph = await newPage();
  await login(ph, 'ds.lan');
  await ph.getByRole('navigation').getByRole('link', { name: 'Cấp phát thuốc' }).click();
  await ph.getByRole('heading', { name: 'Cấp phát thuốc theo đơn', level: 1 }).waitFor();
  await ph.getByTestId('rx-lookup').fill(code);
  await ph.getByTestId('rx-lookup').press('Enter');
  await ph.getByTestId('disp-items').waitFor();
  const patient = server.sql(`SELECT patient_name FROM pharmacy.prescriptions WHERE code = '${code}'`);
  assert.equal(await ph.getByTestId('patient-name').innerText(), patient);
  assert.equal(await row(ph, 'T0001').getByTestId('remaining').innerText(), '15');
  assert.equal(await row(ph, 'T0007').getByTestId('remaining').innerText(), '20');
  await shot(ph, 'pharmacy-3-dispense-lookup');

  // Part: 10 of the paracetamol, none of the amoxicillin yet
  await row(ph, 'T0001').getByTestId('disp-qty').fill('10');
  await row(ph, 'T0007').getByTestId('disp-qty').fill('0');
  await ph.getByTestId('dispense').click();
  await ph.getByTestId('disp-done').waitFor();
  // The lot used is the unexpired one that expires first (DM0001A, 45 days), never the expired DM0001X
  const lines = await ph.getByTestId('disp-line').allInnerTexts();
  assert.equal(lines.length, 1);
  assert.match(lines[0], /Paracetamol 500mg: lô DM0001A, HSD \d\d\/\d\d\/\d{4}: 10/);
  assert.equal(await row(ph, 'T0001').getByTestId('dispensed').innerText(), '10');
  assert.equal(await row(ph, 'T0001').getByTestId('remaining').innerText(), '5');
  assert.equal(await row(ph, 'T0007').getByTestId('remaining').innerText(), '20');
  assert.equal(await ph.getByTestId('rx-state').first().getAttribute('data-state'), 'partially_dispensed');
  await shot(ph, 'pharmacy-4-dispensed-part');
  assert.equal(server.sql(`SELECT p.state || '|' || string_agg(i.drug_code || ':' || i.dispensed, ',' ORDER BY i.seq)
    FROM pharmacy.prescriptions p JOIN pharmacy.prescription_items i ON i.prescription_id = p.id WHERE p.code = '${code}' GROUP BY p.state`),
  'partially_dispensed|T0001:10,T0007:0');
  assert.equal(server.sql(`SELECT string_agg(l.lot || ':' || (-m.quantity), ',') FROM pharmacy.stock_moves m
    JOIN pharmacy.stock_lots l ON l.id = m.lot_id JOIN pharmacy.dispensings d ON d.id = m.dispensing_id
    JOIN pharmacy.prescriptions p ON p.id = d.prescription_id WHERE p.code = '${code}'`), 'DM0001A:10');

  // Asking for more than remains is refused next to the item, before anything is sent
  await row(ph, 'T0001').getByTestId('disp-qty').fill('6');
  await ph.getByTestId('dispense').click();
  await row(ph, 'T0001').locator('.field-error', { hasText: 'Chỉ còn 5' }).waitFor();

  // The rest
  await ph.getByRole('button', { name: 'Phát đủ phần còn lại' }).click();
  assert.equal(await row(ph, 'T0001').getByTestId('disp-qty').inputValue(), '5');
  assert.equal(await row(ph, 'T0007').getByTestId('disp-qty').inputValue(), '20');
  await ph.getByTestId('dispense').click();
  await ph.getByTestId('rx-closed').waitFor();
  assert.equal(await row(ph, 'T0001').getByTestId('remaining').innerText(), '0');
  assert.equal(await row(ph, 'T0007').getByTestId('remaining').innerText(), '0');
  assert.equal(await row(ph, 'T0001').getByTestId('dispensed').innerText(), '15');
  assert.equal(await ph.getByTestId('rx-state').first().getAttribute('data-state'), 'dispensed');
  assert.equal(await ph.getByTestId('disp-history').locator('tbody tr').count(), 3);
  await shot(ph, 'pharmacy-5-dispensed-all');
  assert.equal(server.sql(`SELECT p.state || '|' || string_agg(i.drug_code || ':' || i.dispensed || '/' || i.quantity, ',' ORDER BY i.seq)
    FROM pharmacy.prescriptions p JOIN pharmacy.prescription_items i ON i.prescription_id = p.id WHERE p.code = '${code}' GROUP BY p.state`),
  'dispensed|T0001:15/15,T0007:20/20');
  assert.equal(server.sql(`SELECT count(*) FROM pharmacy.dispensings d JOIN pharmacy.prescriptions p ON p.id = d.prescription_id WHERE p.code = '${code}'`), '2');

  // Each dispensing went to the national pharmacy portal: the history says so once it is delivered
  for (let i = 0; ; i++) {
    if (server.sql(`SELECT count(*) FROM core.outbox o JOIN pharmacy.dispensings d ON d.invoice_code = o.dedupe_key
      JOIN pharmacy.prescriptions p ON p.id = d.prescription_id WHERE o.target = 'pharmacy-portal' AND o.state = 'acknowledged' AND p.code = '${code}'`) === '2') break;
    assert.ok(i < 100, 'dispensings delivered to the pharmacy portal');
    await new Promise((r) => setTimeout(r, 200));
  }
  await ph.reload();
  await ph.getByTestId('disp-history').waitFor();
  await ph.locator('[data-testid="invoice-portal"][data-state="acknowledged"]').nth(1).waitFor();
  assert.match(await ph.getByTestId('invoice-portal').first().innerText(), /Cổng đã nhận/);

  // The doctor's visit shows what was dispensed
  await doc.reload();
  const card2 = doc.getByTestId('rx-card').filter({ hasText: code });
  await card2.locator('[data-testid="rx-state"][data-state="dispensed"]').waitFor();
  assert.deepEqual(doc.problems, []);
  assert.deepEqual(ph.problems, []);
});

test('an over-limit narcotic prescription is marked as you type and refused with the reason on screen', async () => {
  const vid = await openVisit();
  const doc = await newPage();
  await login(doc, 'bs.an');
  await doc.goto(`/visits/${vid}`);
  await doc.getByTestId('rx-panel').waitFor();
  await diagnose(doc, 'J06.9', 'J06.9');

  const mor = await addDrug(doc, 'morphin sulfat', 'T0074');
  // A narcotic: the type switches to N and the limit to 7 days
  assert.equal(await doc.getByTestId('rx-type').inputValue(), 'N');
  await doc.getByTestId('rx-limit').filter({ hasText: 'Tối đa 7 ngày' }).waitFor();
  await mor.getByTestId('rx-qty').fill('20');
  await mor.getByTestId('rx-dosage').fill('Uống 1 viên mỗi 12 giờ');
  await mor.getByTestId('rx-days').fill('10');
  // Marked before submitting
  const daysField = mor.locator('[data-rx-field="items[0].days"]');
  assert.match(await daysField.getAttribute('class'), /has-error/);
  assert.match(await daysField.locator('.field-error').innerText(), /Vượt giới hạn 7 ngày/);
  assert.equal(await mor.getByTestId('rx-days').getAttribute('aria-invalid'), 'true');
  await shot(doc, 'pharmacy-6-narcotic-limit-as-you-type');

  await doc.getByTestId('issue-rx').click();
  // The server's reason, next to the days field it names
  const err = daysField.locator('.field-error');
  await err.filter({ hasText: 'đơn thuốc gây nghiện (N)' }).waitFor();
  assert.match(await err.innerText(), /Tối đa 7 ngày \(đơn thuốc gây nghiện \(N\), bệnh cấp tính\); đã kê 10/);
  await doc.getByText('Đơn thuốc chưa được chấp nhận').waitFor();
  assert.equal(await doc.getByTestId('rx-card').count(), 0);
  await shot(doc, 'pharmacy-7-narcotic-refused');
  assert.equal(server.sql(`SELECT count(*) FROM pharmacy.prescriptions WHERE visit_id = ${vid}`), '0');

  // Within the limit it is issued as an N prescription
  await mor.getByTestId('rx-days').fill('7');
  await mor.getByTestId('rx-qty').fill('14');
  assert.doesNotMatch(await daysField.getAttribute('class'), /has-error/);
  await doc.getByTestId('issue-rx').click();
  const code = (await doc.getByTestId('rx-code').first().innerText()).trim();
  assert.match(code, /^19010[0-9a-z]{7}-N$/);
  assert.equal(server.sql(`SELECT type || ':' || (SELECT days FROM pharmacy.prescription_items WHERE prescription_id = p.id) FROM pharmacy.prescriptions p WHERE visit_id = ${vid}`), 'N:7');
  assert.deepEqual(doc.problems, []);
});

test('a prescription is cancelled and replaced, never edited; the English screen reads the same', async () => {
  const vid = await openVisit();
  const doc = await newPage();
  await login(doc, 'bs.an');
  await doc.goto(`/visits/${vid}`);
  await diagnose(doc, 'I10', 'I10');
  // The national portal will refuse the next prescription (its own check of the diagnosis)
  await fetch(`${sim.url}/_sim/control`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ reject_next: 1 }) });
  const met = await addDrug(doc, 'amlodipin', 'T0033');
  // Hypertension is a listed chronic disease: 90 days for a C prescription,
  // once the diagnosis is saved (the limits follow the saved diagnoses)
  await doc.getByTestId('rx-limit-stale').waitFor();
  assert.match(await doc.getByTestId('rx-limit').innerText(), /Tối đa 30 ngày/);
  await doc.getByTestId('rx-recompute').click();
  await doc.getByTestId('rx-limit').filter({ hasText: 'Tối đa 90 ngày' }).waitFor();
  assert.equal(await doc.getByTestId('rx-limit-stale').count(), 0);
  assert.match(await met.getByTestId('days-limit').innerText(), /tối đa 90/);
  await met.getByTestId('rx-qty').fill('30');
  await met.getByTestId('rx-dosage').fill('Uống 1 viên buổi sáng');
  await met.getByTestId('rx-days').fill('30');
  await doc.getByTestId('issue-rx').click();
  const first = (await doc.getByTestId('rx-code').first().innerText()).trim();
  // The portal's refusal and its reasons are shown on the prescription
  const firstCard = doc.getByTestId('rx-card').filter({ hasText: first });
  await firstCard.locator('[data-testid="portal-state"][data-state="error"]').waitFor({ timeout: 20000 });
  assert.match(await firstCard.getByTestId('portal-errors').innerText(), /CHAN_DOAN_KHONG_HOP_LE chan_doan: Chẩn đoán không phù hợp/);
  assert.match(await firstCard.getByTestId('portal-state').innerText(), /Cổng từ chối/);
  assert.equal(server.sql(`SELECT state FROM core.outbox WHERE target = 'prescription-portal' AND dedupe_key = '${first}'`), 'error');
  await shot(doc, 'pharmacy-8a-portal-refused');

  // Replace: the form is filled from the old one; the new one links to it
  await doc.getByTestId('rx-card').filter({ hasText: first }).getByTestId('replace-rx').click();
  await doc.getByText(`Đang soạn đơn thay thế cho ${first}`).waitFor();
  const row2 = doc.getByTestId('rx-row').first();
  await row2.getByTestId('rx-days').fill('60');
  await row2.getByTestId('rx-qty').fill('60');
  await doc.getByTestId('issue-rx').click();
  await doc.getByText(`Thay thế đơn ${first}`).waitFor();
  const second = server.sql(`SELECT replaced_by_code FROM pharmacy.prescriptions WHERE code = '${first}'`);
  assert.match(second, /^19010[0-9a-z]{7}-C$/);
  await doc.getByTestId('rx-card').filter({ hasText: first }).locator('[data-testid="rx-state"][data-state="cancelled"]').waitFor();
  assert.equal(server.sql(`SELECT state || '|' || replaces_code FROM pharmacy.prescriptions WHERE code = '${second}'`), `active|${first}`);
  assert.equal(server.sql(`SELECT days FROM pharmacy.prescription_items i JOIN pharmacy.prescriptions p ON p.id = i.prescription_id WHERE p.code = '${second}'`), '60');
  // The replacement reaches the portal
  await doc.getByTestId('rx-card').filter({ hasText: `Thay thế đơn ${first}` }).locator('[data-testid="portal-state"][data-state="acknowledged"]').waitFor({ timeout: 20000 });

  // Cancel the replacement with a reason
  const card = doc.getByTestId('rx-card').filter({ hasText: second }).first();
  await card.getByTestId('cancel-rx').click();
  await card.getByLabel('Lý do hủy').fill('Người bệnh đổi ý');
  await card.getByTestId('confirm-cancel-rx').click();
  await doc.getByText(`Đã hủy đơn ${second}`).waitFor();
  assert.equal(server.sql(`SELECT state || '|' || cancel_reason FROM pharmacy.prescriptions WHERE code = '${second}'`), 'cancelled|Người bệnh đổi ý');
  await shot(doc, 'pharmacy-8-cancel-replace');

  // English
  await doc.getByRole('button', { name: 'Switch to English' }).click();
  await doc.getByRole('group', { name: 'Prescription' }).waitFor();
  await doc.getByText(`Replaces ${first}`).waitFor();
  await shot(doc, 'pharmacy-9-prescription-en');
  assert.deepEqual(doc.problems, []);
});

test('the stock screen: lots with expiry, near-expiry and expired lists, a receipt', async () => {
  const page = await newPage();
  await login(page, 'ds.lan');
  await page.getByTestId('stock-alerts-summary').waitFor();
  await page.getByRole('navigation').getByRole('link', { name: 'Kho thuốc' }).click();
  await page.getByTestId('stock-table').waitFor();
  // The expired demo lot is listed as expired; the 45-day lots as near expiry
  await page.getByTestId('expired').locator('li[data-lot="DM0001X"]').waitFor();
  await page.getByTestId('near-expiry').locator('li[data-lot="DM0002A"]').waitFor();
  await page.getByTestId('stock-search').fill('paracetamol 500');
  await page.getByTestId('stock-table').and(page.locator(':not(:has(tr[data-code="T0002"]))')).waitFor();
  const para = page.getByTestId('stock-table').locator('tr[data-code="T0001"]');
  await para.locator('li[data-lot="DM0001X"]', { hasText: 'Hết hạn' }).waitFor();
  assert.equal(await page.getByTestId('stock-table').locator('tbody tr').count(), 1);
  assert.equal(await para.getByTestId('usable').innerText(), String(Number(server.sql(
    `SELECT sum(quantity) FROM pharmacy.stock_lots l JOIN core.facilities f ON f.id = l.facility_id WHERE f.code = '19010' AND drug_code = 'T0001' AND expiry >= (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date`))));
  await shot(page, 'pharmacy-10-stock');

  // A receipt of a new lot
  await page.getByTestId('receipt-drug-input').fill('cefixim');
  await page.locator('[role="option"][data-code="T0010"]').click();
  await page.getByTestId('receipt-lot').fill('CF2601');
  await page.getByTestId('receipt-expiry').fill('2028-06-30');
  await page.getByTestId('receipt-qty').fill('300');
  await page.getByLabel('Nhà cung cấp').fill('Công ty Dược phẩm Thái Nguyên');
  await page.getByTestId('save-receipt').click();
  await page.getByText(/Đã nhập kho: phiếu 19010-PN\d+, 1 lô/).waitFor();
  assert.equal(server.sql(`SELECT quantity || '|' || expiry FROM pharmacy.stock_lots l JOIN core.facilities f ON f.id = l.facility_id
    WHERE f.code = '19010' AND l.drug_code = 'T0010' AND l.lot = 'CF2601'`), '300|2028-06-30');
  await page.getByTestId('stock-search').fill('cefixim');
  await page.getByTestId('stock-table').locator('tr[data-code="T0010"] li[data-lot="CF2601"]').waitFor();

  // An expired lot cannot be received: the reason is next to the field
  await page.getByTestId('receipt-drug-input').fill('cefixim');
  await page.locator('[role="option"][data-code="T0010"]').click();
  await page.getByTestId('receipt-lot').fill('CF2001');
  await page.getByTestId('receipt-expiry').fill('2020-01-31');
  await page.getByTestId('receipt-qty').fill('10');
  await page.getByTestId('save-receipt').click();
  await page.locator('[data-sf="items[0].expiry"] .field-error', { hasText: 'Không nhập thuốc đã hết hạn' }).waitFor();
  await shot(page, 'pharmacy-11-receipt-refused');
  assert.equal(server.sql(`SELECT count(*) FROM pharmacy.stock_lots WHERE lot = 'CF2001'`), '0');
  assert.deepEqual(page.problems, []);
});
