// Issue 5: drug catalogue, e-prescriptions (code, limits, signature, cancel and replace), dispensing from stock
// (FEFO, expired lots refused, partial then rest, concurrent pharmacists), the outside pharmacy's look-up
// through the portal, stock receipts, adjustments and alerts, audit and facility scope.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startServer, BIN } from '../lib/server.mjs';

let sim, srv, doctor, lan, lan2, tam;

async function startSim(args = []) {
  const proc = spawn(BIN, ['portal-sim', '--listen', '127.0.0.1:0', ...args], {
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
    control: (b) => call('POST', '/_sim/control', b),
    received: (kind) => call('GET', `/_sim/received?kind=${kind}&full=1`),
    stop: () => new Promise((r) => { if (proc.exitCode !== null || proc.signalCode !== null) return r(); proc.on('exit', r); proc.kill('SIGTERM'); }),
  };
}

// A fresh open visit at 19010 with the given diagnoses (inserted directly: the visit API is another module's).
function newVisit(icd10 = ['J06.9']) {
  const fid = srv.sql(`SELECT id FROM core.facilities WHERE code = '19010'`);
  const pid = srv.sql(`SELECT id FROM clinical.patients WHERE facility_id = ${fid} AND birth_date < '2000-01-01' ORDER BY id LIMIT 1`);
  const ma = 'RX' + randomBytes(6).toString('hex').toUpperCase();
  const vid = srv.sql(`INSERT INTO clinical.visits (facility_id, patient_id, ma_lk, kind) VALUES (${fid}, ${pid}, '${ma}', 'outpatient') RETURNING id`);
  icd10.forEach((c, i) => srv.sql(`INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary) VALUES (${vid}, ${fid}, ${i}, '${c}', ${i === 0})`));
  return Number(vid);
}

const para = (q = 15, days = 5) => ({ drug_code: 'T0001', quantity: q, unit: 'viên', dosage: 'Uống 1 viên x 3 lần/ngày', days });

async function issue(body, icd10) {
  const vid = newVisit(icd10);
  return doctor.post(`/api/v1/visits/${vid}/prescriptions`, body);
}

async function until(fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  sim = await startSim();
  srv = await startServer({ env: { HIS_RX_PORTAL_URL: sim.url, HIS_PHARMACY_PORTAL_URL: sim.url, HIS_OUTBOX_BACKOFF_MAX_MS: '1000' } });
  doctor = await srv.login('bs.an');
  lan = await srv.login('ds.lan');
  lan2 = await srv.login('ds.lan');
  tam = await srv.login('ds.tam');
});
after(async () => { await srv.stop(); await sim.stop(); });

test('drug look-up without diacritics, with class and type', async () => {
  const r = await doctor.get('/api/v1/drugs?q=cam%20thao');
  assert.equal(r.status, 200);
  assert.ok(r.json.items.some((d) => d.name.startsWith('Cam thảo') && d.rx_class === 'herbal' && d.type === 'T'));
  const m = await doctor.get('/api/v1/drugs?q=MORPHIN');
  assert.ok(m.json.items.length >= 1 && m.json.items.every((d) => d.type === 'N'));
  assert.ok((await doctor.get('/api/v1/drugs?class=psychotropic')).json.total >= 4);
  assert.equal((await doctor.get('/api/v1/drugs?limit=500')).status, 422);
});

test('issue: 14-character code, signed, stored, queued for the portal; his rx verify; tampering detected', async () => {
  const r = await issue({ type: 'C', items: [para(), { drug_code: 'T0007', quantity: 14, dosage: 'Uống 1 viên x 2 lần/ngày', days: 7 }], advice: 'Tái khám sau 7 ngày' });
  assert.equal(r.status, 201, r.text);
  const rx = r.json;
  assert.match(rx.code, /^19010[0-9a-z]{7}-C$/);
  assert.equal(rx.code.length, 14);
  assert.equal(rx.type, 'C');
  assert.equal(rx.state, 'active');
  assert.equal(rx.items.length, 2);
  assert.deepEqual(rx.items.map((i) => [i.drug_code, i.quantity, i.unit, i.days, i.dispensed]),
    [['T0001', 15, 'viên', 5, 0], ['T0007', 14, 'viên', 7, 0]]);
  assert.match(rx.signature, /^[A-Za-z0-9+/]{86}==$/);
  // Valid for 5 days to fill.
  const issued = new Date(srv.sql(`SELECT (issued_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date FROM pharmacy.prescriptions WHERE code = '${rx.code}'`));
  assert.equal((new Date(rx.valid_until) - issued) / 86400000, 5);
  // The outbox row was written with it, keyed by the code.
  assert.equal(srv.sql(`SELECT count(*) FROM core.outbox WHERE target = 'prescription-portal' AND dedupe_key = '${rx.code}'`), '1');
  const g = await doctor.get(`/api/v1/prescriptions/${rx.code}`);
  assert.equal(g.status, 200);
  assert.equal(g.json.code, rx.code);
  assert.match(g.headers.get('etag'), /^"\d+"$/);
  const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' };
  const ok = spawnSync(BIN, ['rx', 'verify', rx.code, '--database-url', srv.dbUrl], { encoding: 'utf8', env });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /valid signature/);
  srv.sql(`UPDATE pharmacy.prescription_items SET quantity = 140 WHERE seq = 1 AND prescription_id = (SELECT id FROM pharmacy.prescriptions WHERE code = '${rx.code}' AND origin = 'local')`);
  const bad = spawnSync(BIN, ['rx', 'verify', rx.code, '--database-url', srv.dbUrl], { encoding: 'utf8', env });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /INVALID/);
  const none = spawnSync(BIN, ['rx', 'verify', '19010zzzzzzz-C', '--database-url', srv.dbUrl], { encoding: 'utf8', env });
  assert.equal(none.status, 1);
  // Every read and write is audited with the patient.
  assert.ok(Number(srv.sql(`SELECT count(*) FROM audit.events WHERE entity = 'prescription' AND entity_id = '${rx.code}' AND patient_id IS NOT NULL`)) >= 2);
});

test('limits: 30 days, 90 for a listed chronic disease, narcotic 7, psychotropic 10 or 30; the item is named', async () => {
  let r = await issue({ type: 'C', items: [para(15, 5), para(31, 31)].map((x, i) => (i ? { ...x, drug_code: 'T0004' } : x)) });
  assert.equal(r.status, 422);
  assert.equal(r.json.errors[0].field, 'items[1].days');
  assert.match(r.json.errors[0].message, /30/);
  r = await issue({ type: 'C', items: [{ ...para(90, 90), drug_code: 'T0033' }] }, ['I10']);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.chronic, true);
  r = await issue({ type: 'C', items: [{ ...para(91, 91), drug_code: 'T0033' }] }, ['I10']);
  assert.equal(r.status, 422);
  assert.equal(r.json.errors[0].field, 'items[0].days');
  // Narcotic: 7 days (acute), refused at 8 with the reason.
  r = await issue({ type: 'N', items: [{ drug_code: 'T0074', quantity: 16, dosage: 'Uống 1 viên x 2 lần/ngày', days: 8 }] }, ['S72.0'.replace('S72.0', 'K29.7')]);
  assert.equal(r.status, 422);
  assert.equal(r.json.errors[0].field, 'items[0].days');
  assert.match(r.json.errors[0].message, /7/);
  r = await issue({ type: 'N', items: [{ drug_code: 'T0074', quantity: 14, dosage: 'Uống 1 viên x 2 lần/ngày', days: 7 }] }, ['K29.7']);
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.code, /-N$/);
  // Cancer: one batch of 10 days.
  r = await issue({ type: 'N', items: [{ drug_code: 'T0074', quantity: 20, dosage: 'Uống 1 viên x 2 lần/ngày', days: 10 }] }, ['C34.9']);
  assert.equal(r.status, 201, r.text);
  // Psychotropic: 10 acute, 30 chronic.
  r = await issue({ type: 'H', items: [{ drug_code: 'T0077', quantity: 11, dosage: 'Uống 1 viên buổi tối', days: 11 }] }, ['F41.1']);
  assert.equal(r.status, 422);
  assert.equal(r.json.errors[0].field, 'items[0].days');
  r = await issue({ type: 'H', items: [{ drug_code: 'T0077', quantity: 30, dosage: 'Uống 1 viên buổi tối', days: 30 }] }, ['F41.1', 'I10']);
  assert.equal(r.status, 201, r.text);
  // One type per prescription: a narcotic on a C prescription is refused, naming the item.
  r = await issue({ type: 'C', items: [para(), { drug_code: 'T0073', quantity: 2, dosage: 'Tiêm', days: 1 }] });
  assert.equal(r.status, 422);
  assert.equal(r.json.errors[0].field, 'items[1].drug_code');
  r = await issue({ type: 'X', items: [para()] });
  assert.equal(r.json.errors[0].field, 'type');
  // The form's hints.
  const lim = await doctor.get(`/api/v1/visits/${newVisit(['E11.9'])}/prescription-limits`);
  assert.equal(lim.json.limits.C.max_days, 90);
  assert.equal(lim.json.limits.N.max_days, 7);
  assert.equal(lim.json.limits.H.max_days, 30);
  assert.equal(lim.json.valid_days, 5);
});

test('cancel and replace: never edited, the new one links the old, the old is not dispensable', async () => {
  const a = (await issue({ type: 'C', items: [para()] })).json;
  const vid = newVisit();
  // Same patient (newVisit picks the same one): replacement allowed.
  const b = await doctor.post(`/api/v1/visits/${vid}/prescriptions`, { type: 'C', items: [para(10, 4)], replaces: a.code });
  assert.equal(b.status, 201, b.text);
  assert.equal(b.json.replaces, a.code);
  const old = await doctor.get(`/api/v1/prescriptions/${a.code}`);
  assert.equal(old.json.state, 'cancelled');
  assert.equal(old.json.replaced_by, b.json.code);
  assert.equal((await doctor.post(`/api/v1/visits/${vid}/prescriptions`, { type: 'C', items: [para()], replaces: a.code })).status, 409);
  const d = await lan.post(`/api/v1/prescriptions/${a.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 1 }] });
  assert.equal(d.status, 409);
  const c = await doctor.post(`/api/v1/prescriptions/${b.json.code}/cancel`, { reason: 'nhầm liều' });
  assert.equal(c.status, 200);
  assert.equal(c.json.state, 'cancelled');
  assert.equal((await doctor.post(`/api/v1/prescriptions/${b.json.code}/cancel`, {})).status, 409);
  // There is no edit route at all.
  assert.equal((await doctor.patch(`/api/v1/prescriptions/${b.json.code}`, { items: [] })).status, 405);
});

test('dispensing: part then the rest, first-expiring lot first, expired lots never, stock follows', async () => {
  const rx = (await issue({ type: 'C', items: [para(30, 10)] })).json;
  const stock0 = await lan.get('/api/v1/stock?drug_code=T0001');
  const lots0 = stock0.json.items[0].lots;
  assert.ok(lots0.some((l) => l.lot === 'DM0001X' && l.expired));
  const d1 = await lan.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 12 }] });
  assert.equal(d1.status, 201, d1.text);
  assert.deepEqual(d1.json.lines.map((l) => l.lot), ['DM0001A']); // FEFO: the 45-day lot, not the expired one
  assert.equal(d1.json.prescription.state, 'partially_dispensed');
  assert.equal(d1.json.prescription.items[0].remaining, 18);
  // An expired lot named explicitly is refused, naming the item.
  const bad = await lan.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 1, lot: 'DM0001X' }] });
  assert.equal(bad.status, 422);
  assert.equal(bad.json.errors[0].field, 'items[0].lot');
  // More than remains: refused.
  assert.equal((await lan.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 19 }] })).status, 409);
  const d2 = await lan.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 18 }] });
  assert.equal(d2.status, 201, d2.text);
  assert.equal(d2.json.prescription.state, 'dispensed');
  assert.equal(d2.json.prescription.dispensings.length, 2);
  const stock1 = await lan.get('/api/v1/stock?drug_code=T0001');
  assert.equal(stock1.json.items[0].quantity, stock0.json.items[0].quantity - 30);
  assert.equal(stock1.json.items[0].expired_quantity, stock0.json.items[0].expired_quantity);
  assert.equal((await lan.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 1 }] })).status, 409);
  // FEFO across lots: more than the first lot holds spills into the next.
  const big = (await issue({ type: 'C', items: [{ drug_code: 'T0053', quantity: 250, dosage: 'Uống 1 viên/ngày', days: 30 }] }, ['J45.0'.replace('J45.0', 'I10')])).json;
  const d3 = await lan.post(`/api/v1/prescriptions/${big.code}/dispensings`, { items: [{ drug_code: 'T0053', quantity: 250 }] });
  assert.equal(d3.status, 201, d3.text);
  assert.deepEqual(d3.json.lines.map((l) => [l.lot, l.quantity]), [['DM0053A', 200], ['DM0053B', 50]]);
  // Each dispensing reaches the pharmacy portal, linked to the prescription code.
  const got = await until(async () => {
    const list = await sim.received('dispensing');
    const mine = list.filter((x) => x.prescription_code === rx.code);
    return mine.length === 2 && mine;
  });
  assert.ok(got.every((x) => x.count === 1));
  assert.equal(got[0].payload.hoa_don_chi_tiet[0].so_lo, 'DM0001A');
  assert.match(got[0].payload.hoa_don_chi_tiet[0].han_dung, /^\d{8}$/);
});

test('two pharmacists dispensing the same prescription at once: exactly one succeeds', async () => {
  for (let round = 0; round < 3; round++) {
    const rx = (await issue({ type: 'C', items: [para(20, 5)] })).json;
    const body = { items: [{ drug_code: 'T0001', quantity: 20 }] };
    const rs = await Promise.all([lan, lan2, lan, lan2].map((c) => c.post(`/api/v1/prescriptions/${rx.code}/dispensings`, body)));
    const codes = rs.map((r) => r.status).sort();
    assert.deepEqual(codes, [201, 409, 409, 409], JSON.stringify(rs.map((r) => r.json)));
    const after = await lan.get(`/api/v1/prescriptions/${rx.code}`);
    assert.equal(after.json.items[0].dispensed, 20);
    assert.equal(after.json.dispensings.length, 1);
  }
  // A stale If-Match is refused too.
  const rx = (await issue({ type: 'C', items: [para(20, 5)] })).json;
  const g = await lan.get(`/api/v1/prescriptions/${rx.code}`);
  await lan.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 5 }] });
  const stale = await lan2.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 5 }] }, { 'If-Match': g.headers.get('etag') });
  assert.equal(stale.status, 412);
});

test('an expired prescription is refused at the counter', async () => {
  const rx = (await issue({ type: 'C', items: [para()] })).json;
  srv.sql(`UPDATE pharmacy.prescriptions SET valid_until = current_date - 1 WHERE code = '${rx.code}'`);
  const g = await lan.get(`/api/v1/prescriptions/${rx.code}`);
  assert.equal(g.json.state, 'expired');
  const d = await lan.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 1 }] });
  assert.equal(d.status, 422);
  assert.match(d.json.errors.length ? d.json.errors[0].message : d.json.detail, /hết hạn|expired/);
});

test('outside pharmacy: looks the code up on the portal and dispenses; other facilities never see it locally', async () => {
  const rx = (await issue({ type: 'C', items: [para(20, 5)] })).json;
  await until(async () => (await doctor.get(`/api/v1/prescriptions/${rx.code}`)).json.portal.state === 'acknowledged');
  // A doctor of another hospital: not visible (row-level security), not fetched.
  const binh = await srv.login('bs.binh');
  assert.equal((await binh.get(`/api/v1/prescriptions/${rx.code}`)).status, 404);
  const g = await tam.get(`/api/v1/prescriptions/${rx.code}`);
  assert.equal(g.status, 200, g.text);
  assert.equal(g.json.origin, 'portal');
  assert.equal(g.json.issuer_facility_code, '19010');
  assert.equal(g.json.items[0].quantity, 20);
  assert.equal(g.json.patient.sex, srv.sql(`SELECT patient_sex FROM pharmacy.prescriptions WHERE code = '${rx.code}' AND origin = 'local'`));
  const d = await tam.post(`/api/v1/prescriptions/${rx.code}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 8 }] });
  assert.equal(d.status, 201, d.text);
  assert.match(d.json.invoice_code, /^19201-HD\d+$/);
  // Unknown code at the portal: 404.
  assert.equal((await tam.get('/api/v1/prescriptions/19010zzzzzzz-C')).status, 404);
});

test('stock: receipts, adjustments with a reason, low-stock and near-expiry list', async () => {
  const rc = await lan.post('/api/v1/stock/receipts', {
    supplier: 'Công ty Dược phẩm Mẫu', items: [
      { drug_code: 'T0049', lot: 'LT2026A', expiry: '2030-06-30', quantity: 500, unit_price: 900 },
      { drug_code: 'T0050', lot: 'TM2026B', expiry: '2030-01-31', quantity: 100, unit_price: 1100.5 }],
  });
  assert.equal(rc.status, 201, rc.text);
  assert.match(rc.json.code, /^19010-PN\d+$/);
  const s = await lan.get('/api/v1/stock?drug_code=T0049');
  assert.ok(s.json.items[0].lots.some((l) => l.lot === 'LT2026A' && l.quantity === 500));
  // Bad lines name the field; an expired receipt is refused.
  const bad = await lan.post('/api/v1/stock/receipts', { items: [{ drug_code: 'T0049', lot: 'X1', expiry: '2030-02-30', quantity: 1 }, { drug_code: 'NOPE', lot: 'X2', expiry: '2031-01-01', quantity: 1 }] });
  assert.equal(bad.status, 422);
  assert.equal(bad.json.errors[0].field, 'items[0].expiry');
  const old = await lan.post('/api/v1/stock/receipts', { items: [{ drug_code: 'T0049', lot: 'OLD1', expiry: '2020-01-01', quantity: 1 }] });
  assert.equal(old.status, 422);
  const adj = await lan.post('/api/v1/stock/adjustments', { items: [{ drug_code: 'T0049', lot: 'LT2026A', quantity: -20, reason: 'damaged', note: 'vỡ' }] });
  assert.equal(adj.status, 201, adj.text);
  assert.equal(adj.json.items[0].quantity, 480);
  assert.equal((await lan.post('/api/v1/stock/adjustments', { items: [{ drug_code: 'T0049', lot: 'LT2026A', quantity: -5 }] })).json.errors[0].field, 'items[0].reason');
  assert.equal((await lan.post('/api/v1/stock/adjustments', { items: [{ drug_code: 'T0049', lot: 'LT2026A', quantity: -5000, reason: 'lost' }] })).status, 422);
  const al = await lan.get('/api/v1/stock/alerts?low_below=150&expiring_within_days=60');
  assert.equal(al.status, 200);
  assert.ok(al.json.near_expiry.some((l) => l.lot === 'DM0033A' && l.days_left <= 60));
  assert.ok(al.json.expired.some((l) => l.lot === 'DM0001X'));
  assert.ok(al.json.low_stock.some((d) => d.drug_code === 'T0073')); // narcotics are stocked in tens (120 < 150)
  // The receipt went to the pharmacy portal as a phiếu nhập.
  await until(async () => (await sim.received('receipt')).some((x) => x.code === rc.json.code && x.payload.loai_phieu_nhap === 1));
  // Stock is the facility's: the retail pharmacy does not see the hospital's lot.
  assert.ok(!(await tam.get('/api/v1/stock?drug_code=T0049')).json.items.some((i) => i.lots.some((l) => l.lot === 'LT2026A')));
  // Nurses may not dispense; doctors may not receive stock.
  assert.equal((await doctor.post('/api/v1/stock/receipts', { items: [] })).status, 403);
});
