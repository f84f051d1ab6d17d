// The provincial dashboard (issue 8 points 3 and 4): every chart's numbers
// equal the same question asked of the base tables, after inserts, updates
// and deletes made through the API, through SQL, and as the replication
// apply worker makes them (session_replication_role = replica); the rollups
// move by one row per change (no re-scan); CSV; bad input; roles and
// row-level security by province.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';

let srv, syt, admin, doctor, commune;

before(async () => {
  srv = await startServer();
  syt = await srv.login('syt.thu');         // health department, 19000
  admin = await srv.login('admin');         // admin at 19010, same province
  doctor = await srv.login('bs.an');        // 19010
  commune = await srv.login('yt.phucloc');  // 19101
});
after(async () => { await srv?.stop(); });

const lines = (s) => (s ? s.split('\n') : []);
const day = (offset) => srv.sql(`SELECT to_char(dash.vn_day(now()) + ${offset}, 'YYYY-MM-DD')`);
const inDistrict = (col, d) => (d ? `AND ${col} IN (SELECT dash.district_facilities('${d}'))` : '');
const inCommunes = (col, d) => (d ? `AND ${col} IN (SELECT dash.district_communes_of('${d}'))` : '');

async function chart(name, q, client = syt) {
  const r = await client.get(`/api/v1/dashboard/${name}?${new URLSearchParams(q)}`);
  assert.equal(r.status, 200, r.text);
  return r.json.rows;
}

// ---- the base-table answers ----------------------------------------------------

const truth = {
  visits: (f, t, d) => lines(srv.sql(`
    SELECT to_char(dash.vn_day(v.received_at), 'YYYY-MM-DD') || '|' || fa.level || '|' || count(*)
    FROM clinical.visits v JOIN core.facilities fa ON fa.id = v.facility_id
    WHERE dash.vn_day(v.received_at) BETWEEN '${f}' AND '${t}' ${inDistrict('v.facility_id', d)}
    GROUP BY dash.vn_day(v.received_at), fa.level ORDER BY dash.vn_day(v.received_at), fa.level`)),
  top: (f, t, d, n) => lines(srv.sql(`
    SELECT x.icd10 || '|' || x.n FROM (
      SELECT dg.icd10, count(*) AS n FROM clinical.visit_diagnoses dg JOIN clinical.visits v ON v.id = dg.visit_id
      WHERE dg.is_primary AND dash.vn_day(v.received_at) BETWEEN '${f}' AND '${t}' ${inDistrict('v.facility_id', d)}
      GROUP BY dg.icd10 ORDER BY n DESC, dg.icd10 LIMIT ${n}) x`)),
  notifiable: (f, t, d) => lines(srv.sql(`
    SELECT to_char(w, 'YYYY-MM-DD') || '|' || cc || '|' || dis || '|' || count(*) FROM (
      SELECT date_trunc('week', dash.vn_day(v.received_at))::date AS w, coalesce(p.commune_code, '') AS cc,
             dash.disease_of(dg.icd10) AS dis
      FROM clinical.visit_diagnoses dg JOIN clinical.visits v ON v.id = dg.visit_id
      JOIN clinical.patients p ON p.id = v.patient_id) x
    WHERE dis IS NOT NULL AND w >= date_trunc('week', '${f}'::date)::date AND w <= '${t}' ${inCommunes('cc', d)}
    GROUP BY w, cc, dis ORDER BY 1`)),
  coverage: (d) => lines(srv.sql(`
    SELECT cc || '|' || records || '|' || people FROM (
      SELECT coalesce(p.commune_code, '') AS cc, count(h.patient_id) AS records, count(*) AS people
      FROM clinical.patients p LEFT JOIN clinical.health_records h ON h.patient_id = p.id
      WHERE p.merged_into IS NULL GROUP BY 1) x WHERE true ${inCommunes('cc', d)} ORDER BY cc`)),
  referrals: (f, t, d) => lines(srv.sql(`
    SELECT fa.code || '|' || v.referral_to || '|' || count(*)
    FROM clinical.visits v JOIN core.facilities fa ON fa.id = v.facility_id
    WHERE v.referral_to IS NOT NULL
      AND dash.vn_day(coalesce(v.discharged_at, v.received_at)) BETWEEN '${f}' AND '${t}'
      ${d ? `AND (v.facility_id IN (SELECT dash.district_facilities('${d}')) OR v.referral_to IN
             (SELECT code FROM core.facilities WHERE id IN (SELECT dash.district_facilities('${d}'))))` : ''}
    GROUP BY fa.code, v.referral_to ORDER BY 1`)),
  prescriptions: (f, t, d) => lines(srv.sql(`
    WITH k AS (
      SELECT facility_id, dash.vn_day(issued_at) AS d, (origin = 'local')::int AS i, (state = 'cancelled')::int AS c,
             0 AS ds, 0 AS q, 0 AS s, 0 AS a, 0 AS e FROM pharmacy.prescriptions
      UNION ALL SELECT facility_id, dash.vn_day(dispensed_at), 0, 0, 1, 0, 0, 0, 0 FROM pharmacy.dispensings
      UNION ALL SELECT facility_id, dash.vn_day(created_at), 0, 0, 0, (state = 'queued')::int, (state = 'sent')::int,
             (state = 'acknowledged')::int, (state = 'error')::int FROM core.outbox WHERE target = 'prescription-portal')
    SELECT to_char(d, 'YYYY-MM-DD') || '|' || concat_ws('|', sum(i), sum(c), sum(ds), sum(q), sum(s), sum(a), sum(e))
    FROM k WHERE d BETWEEN '${f}' AND '${t}' ${inDistrict('facility_id', d)} GROUP BY d ORDER BY d`)),
  claims: (f, t, d) => lines(srv.sql(`
    SELECT to_char(b.month, 'YYYY-MM') || '|' || count(*) || '|' || count(*) FILTER (WHERE i.state = 'accepted') || '|'
           || count(*) FILTER (WHERE i.state = 'rejected') || '|' || sum(i.t_bhtt) || '|' || sum(i.t_bncct + i.t_bntt)
    FROM claims.batch_items i JOIN claims.batches b ON b.id = i.batch_id
    WHERE b.month >= date_trunc('month', '${f}'::date) AND b.month <= '${t}' ${inDistrict('i.facility_id', d)}
    GROUP BY b.month ORDER BY b.month`)),
};

const api = {
  visits: async (f, t, d) => (await chart('visits-per-day', { from: f, to: t, ...(d ? { district: d } : {}) }))
    .map((r) => `${r.day}|${r.level}|${r.visits}`),
  top: async (f, t, d, n) => (await chart('top-diagnoses', { from: f, to: t, limit: n, ...(d ? { district: d } : {}) }))
    .map((r) => `${r.icd10}|${r.cases}`),
  notifiable: async (f, t, d) => (await chart('notifiable-diseases', { from: f, to: t, ...(d ? { district: d } : {}) }))
    .map((r) => `${r.week_start}|${r.commune_code}|${r.disease}|${r.cases}`).sort(),
  coverage: async (d) => (await chart('record-coverage', d ? { district: d } : {}))
    .map((r) => `${r.commune_code}|${r.records}|${r.people}`),
  referrals: async (f, t, d) => (await chart('referrals', { from: f, to: t, ...(d ? { district: d } : {}) }))
    .map((r) => `${r.from_facility}|${r.to_facility}|${r.referrals}`).sort(),
  prescriptions: async (f, t, d) => (await chart('prescriptions', { from: f, to: t, ...(d ? { district: d } : {}) }))
    .map((r) => `${r.day}|${[r.issued, r.cancelled, r.dispensings, r.portal_queued, r.portal_sent,
      r.portal_acknowledged, r.portal_error].join('|')}`),
  claims: async (f, t, d) => (await chart('claims', { from: f, to: t, ...(d ? { district: d } : {}) }))
    .map((r) => `${r.month}|${r.claims}|${r.accepted}|${r.rejected}|${Number(r.insurer_amount).toFixed(2)}|${Number(r.patient_amount).toFixed(2)}`),
};

// Every chart against the base tables, for the whole province and each district.
async function assertAllMatch(label) {
  const f = day(-400), t = day(1);
  for (const d of [null, '19010', '19020']) {
    const where = `${label} (district ${d ?? 'all'})`;
    assert.deepEqual(await api.visits(f, t, d), truth.visits(f, t, d), `visits ${where}`);
    assert.deepEqual(await api.top(day(-100), day(-20), d, 20), truth.top(day(-100), day(-20), d, 20), `top ${where}`);
    assert.deepEqual(await api.top(f, t, d, 50), truth.top(f, t, d, 50), `top ${where}`);
    assert.deepEqual(await api.notifiable(f, t, d), truth.notifiable(f, t, d).sort(), `notifiable ${where}`);
    assert.deepEqual(await api.coverage(d), truth.coverage(d), `coverage ${where}`);
    assert.deepEqual(await api.referrals(f, t, d), truth.referrals(f, t, d).sort(), `referrals ${where}`);
    assert.deepEqual(await api.prescriptions(f, t, d), truth.prescriptions(f, t, d), `prescriptions ${where}`);
    assert.deepEqual(await api.claims(f, t, d), truth.claims(f, t, d).map((s) => {
      const p = s.split('|');
      return [...p.slice(0, 4), Number(p[4]).toFixed(2), Number(p[5]).toFixed(2)].join('|');
    }), `claims ${where}`);
  }
}

// The rollups as they stand equal what dash.rebuild() computes from scratch
// (all eight tables, every row), checked inside a transaction rolled back.
const ROLLUP_ROWS = `
  SELECT 'v' AS t, facility_id::text AS a, day::text AS b, '' AS c, visits::text AS n FROM dash.visits_daily WHERE visits <> 0
  UNION ALL SELECT 'dm', facility_id::text, month::text, icd10, cases::text FROM dash.diagnoses_monthly WHERE cases <> 0
  UNION ALL SELECT 'dd', facility_id::text, day::text, icd10, cases::text FROM dash.diagnoses_daily WHERE cases <> 0
  UNION ALL SELECT 'nw', province_code || commune_code, week::text, disease, cases::text FROM dash.notifiable_weekly WHERE cases <> 0
  UNION ALL SELECT 'rc', facility_id::text, commune_code, '', people || '/' || records FROM dash.record_coverage WHERE people <> 0 OR records <> 0
  UNION ALL SELECT 'rx', facility_id::text, day::text, '', concat_ws('/', issued, cancelled, dispensings, portal_queued, portal_sent, portal_acknowledged, portal_error) FROM dash.prescriptions_daily
    WHERE issued <> 0 OR cancelled <> 0 OR dispensings <> 0 OR portal_queued <> 0 OR portal_sent <> 0 OR portal_acknowledged <> 0 OR portal_error <> 0
  UNION ALL SELECT 'cl', facility_id::text, month::text, '', concat_ws('/', claims, ready, invalid, sent, accepted, rejected, insurer_amount, patient_amount, other_amount) FROM dash.claims_monthly
    WHERE claims <> 0 OR insurer_amount <> 0 OR patient_amount <> 0 OR other_amount <> 0
  UNION ALL SELECT 'rf', facility_id::text, to_facility || day, '', referrals::text FROM dash.referrals_daily WHERE referrals <> 0`;
function assertRollupsEqualRebuild(label) {
  // Local visits wait in dash.visits_daily_delta until folded (the server
  // folds every few seconds; the charts read both): fold them first.
  srv.sql('SELECT dash.fold()');
  const out = srv.sql(`BEGIN;
    CREATE TEMP TABLE inc ON COMMIT DROP AS ${ROLLUP_ROWS};
    SELECT dash.rebuild();
    CREATE TEMP TABLE reb ON COMMIT DROP AS ${ROLLUP_ROWS};
    SELECT (SELECT count(*) FROM inc) || ' ' || (SELECT count(*) FROM (SELECT * FROM inc EXCEPT ALL SELECT * FROM reb) a)
           || ' ' || (SELECT count(*) FROM (SELECT * FROM reb EXCEPT ALL SELECT * FROM inc) b);
    ROLLBACK;`);
  const [rows, onlyInc, onlyReb] = out.split('\n').filter((l) => /^\d+ \d+ \d+$/.test(l))[0].split(' ').map(Number);
  assert.ok(rows > 100, `${label}: rollups hold rows (${rows})`);
  assert.equal(onlyInc + onlyReb, 0, `${label}: incremental rollups differ from a rebuild (${onlyInc}/${onlyReb})`);
}

// ---- data helpers -----------------------------------------------------------------

let seq = 0;
async function newPatient(client = doctor, extra = {}) {
  seq++;
  const r = await client.post('/api/v1/patients', {
    full_name: `Lường Văn Dịch ${String.fromCharCode(65 + (seq % 26))}${seq}`, birth_date: `20${10 + (seq % 10)}-05-0${1 + (seq % 8)}`,
    sex: 'male', confirm_new: true, ...extra,
  });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function visitWith(pid, diagnoses, close = null, client = doctor) {
  const v = await client.post('/api/v1/visits', { patient_id: pid, kind: 'outpatient' });
  assert.equal(v.status, 201, v.text);
  const p = await client.patch(`/api/v1/visits/${v.json.id}`, { diagnoses }, { 'If-Match': '"1"' });
  assert.equal(p.status, 200, p.text);
  if (close) {
    const c = await client.post(`/api/v1/visits/${v.json.id}/close`, close);
    assert.equal(c.status, 200, c.text);
  }
  return v.json.id;
}

// ---- tests ---------------------------------------------------------------------------

test('the demo data: every chart equals the base tables, for the province and each district', async () => {
  const rows = await chart('visits-per-day', { from: day(-364), to: day(0) });
  assert.ok(rows.reduce((s, r) => s + r.visits, 0) > 1000, 'a year of demo visits is shown');
  const n = await chart('notifiable-diseases', { from: day(-364), to: day(0) });
  assert.ok(n.some((r) => r.disease === 'dengue') && n.some((r) => r.disease === 'hfmd'), 'demo notifiable cases');
  const cov = await chart('record-coverage', {});
  assert.ok(cov.some((r) => r.records > 0 && r.people > r.records));
  await assertAllMatch('demo');
  assertRollupsEqualRebuild('demo');
});

test('after inserts, updates and deletes through the API and SQL the charts still equal the base tables', async () => {
  // a commune worker's patient (lives in 01894) with dengue, twice in a week: an alert (threshold 2)
  const week = srv.sql(`SELECT to_char(date_trunc('week', dash.vn_day(now()))::date, 'YYYY-MM-DD')`);
  const before = (await chart('notifiable-diseases', { from: day(0), to: day(0), district: '19010' }))
    .filter((r) => r.disease === 'dengue' && r.commune_code === '01894').reduce((s, r) => s + r.cases, 0);
  const p1 = await newPatient(doctor, { address: { province_code: '19', commune_code: '01894' } });
  const p2 = await newPatient(doctor, { address: { province_code: '19', commune_code: '01894' } });
  await visitWith(p1, [{ icd10: 'A90', primary: true }]);
  const v2 = await visitWith(p2, [{ icd10: 'A91', primary: true }, { icd10: 'B08.4', primary: false }],
    { outcome: 2, referral: { to: '19001', reason: 'Sốt xuất huyết có dấu hiệu cảnh báo' } });
  const n = (await chart('notifiable-diseases', { from: day(0), to: day(0), district: '19010' }))
    .filter((r) => r.disease === 'dengue' && r.commune_code === '01894');
  assert.equal(n.length, 1);
  assert.equal(n[0].week_start, week);
  assert.equal(n[0].cases, before + 2);
  assert.equal(n[0].alert, n[0].cases >= n[0].threshold);
  assert.equal(n[0].threshold, 2);
  assert.equal(n[0].alert, true);
  assert.equal(n[0].icd10, 'A90 A91 A97');
  await assertAllMatch('after API inserts');

  // diagnoses replaced (the list sent replaces the stored one)
  const g = await doctor.get(`/api/v1/visits/${v2}`);
  const am = await doctor.patch(`/api/v1/visits/${v2}`, { diagnoses: [{ icd10: 'J06.9', primary: true }], amend_reason: 'sửa chẩn đoán' },
    { 'If-Match': g.headers.get('etag') });
  assert.equal(am.status, 200, am.text);
  // a patient moves commune; a visit's day is corrected; a health record is created
  srv.sql(`UPDATE clinical.patients SET commune_code = '05935' WHERE id = ${p1}`);
  srv.sql(`UPDATE clinical.visits SET received_at = received_at - interval '3 days', discharged_at = discharged_at - interval '1 day' WHERE id = ${v2}`);
  const hr = await doctor.put(`/api/v1/patients/${p1}/health-record`, { identity: { blood_group_abo: 'O' } }, { 'If-Match': '"0"' });
  assert.ok(hr.status === 200 || hr.status === 201, hr.text);
  await assertAllMatch('after updates');

  // deletes: a diagnosis, then a whole visit (its diagnoses go by cascade), then a patient merge
  srv.sql(`DELETE FROM clinical.visit_diagnoses WHERE visit_id = ${v2} AND NOT is_primary`);
  const vid = srv.sql(`SELECT id FROM clinical.visits WHERE patient_id = ${p1} LIMIT 1`);
  srv.sql(`DELETE FROM clinical.visits WHERE id = ${vid}`);
  const m = await doctor.post(`/api/v1/patients/${p2}/merge`, { into: p1 });
  assert.ok(m.status === 200 || m.status === 201, m.text);
  await assertAllMatch('after deletes and a merge');
  assertRollupsEqualRebuild('after API and SQL changes');
});

test('prescriptions (issued, dispensed, portal delivery) and claims (states, payers, rejection rate)', async () => {
  const vid = srv.sql(`SELECT id FROM clinical.visits WHERE facility_id = (SELECT id FROM core.facilities WHERE code = '19010') ORDER BY id DESC LIMIT 1`);
  const pid = srv.sql(`SELECT patient_id FROM clinical.visits WHERE id = ${vid}`);
  const f19010 = `(SELECT id FROM core.facilities WHERE code = '19010')`;
  // The demo seed has prescriptions of its own in these days: the changes below are counted on top of them.
  const sums = (rows) => Object.fromEntries(['issued', 'cancelled', 'dispensings', 'portal_queued', 'portal_error']
    .map((k) => [k, rows.reduce((s, r) => s + r[k], 0)]));
  const before = sums(await chart('prescriptions', { from: day(-5), to: day(0), district: '19010' }));
  srv.sql(`INSERT INTO pharmacy.prescriptions (facility_id, code, type, issuer_facility_code, visit_id, patient_id, patient_name, valid_until, issued_at, state)
    SELECT ${f19010}, '19010' || lpad(g::text, 7, '0') || '-N', 'N', '19010', ${vid}, ${pid}, 'Bệnh nhân thử', current_date + 5,
           now() - (g % 3) * interval '1 day', CASE WHEN g = 4 THEN 'cancelled' ELSE 'active' END
    FROM generate_series(1, 6) g`);
  srv.sql(`INSERT INTO core.outbox (facility_id, target, kind, dedupe_key, payload, state)
    SELECT ${f19010}, 'prescription-portal', 'gui-don-thuoc', code, '{}', CASE WHEN id % 2 = 0 THEN 'acknowledged' ELSE 'queued' END
    FROM pharmacy.prescriptions WHERE code LIKE '19010%-N'`);
  srv.sql(`INSERT INTO core.outbox (facility_id, target, kind, dedupe_key, payload) VALUES (${f19010}, 'hl7:peer', 'ADT', 'x-1', 'MSH')`);
  srv.sql(`INSERT INTO pharmacy.dispensings (facility_id, prescription_id, invoice_code)
    SELECT facility_id, id, 'HD' || id FROM pharmacy.prescriptions WHERE code LIKE '19010%-N' AND state = 'active' LIMIT 3`);
  await assertAllMatch('prescriptions inserted');
  srv.sql(`UPDATE core.outbox SET state = 'error', attempts = attempts + 1 WHERE target = 'prescription-portal' AND state = 'queued'
    AND dedupe_key LIKE '19010%-N'`);
  srv.sql(`UPDATE pharmacy.prescriptions SET state = 'cancelled' WHERE code = '190100000001-N'`);
  const rx = sums(await chart('prescriptions', { from: day(-5), to: day(0), district: '19010' }));
  assert.equal(rx.portal_error, before.portal_error + 3);
  assert.equal(rx.portal_queued, before.portal_queued);
  assert.equal(rx.issued, before.issued + 6);
  assert.equal(rx.cancelled, before.cancelled + 2);
  assert.equal(rx.dispensings, before.dispensings + 3);

  // claims: a batch of this month with accepted and rejected items
  const bid = srv.sql(`INSERT INTO claims.batches (facility_id, month) VALUES (${f19010}, date_trunc('month', current_date)) RETURNING id`).split('\n')[0];
  srv.sql(`INSERT INTO claims.batch_items (batch_id, facility_id, visit_id, patient_id, ma_lk, visit_revision, state, content_sha256, t_bhtt, t_bncct, t_bntt, t_nguonkhac)
    SELECT ${bid}, v.facility_id, v.id, v.patient_id, v.ma_lk, 1, (ARRAY['accepted', 'accepted', 'accepted', 'rejected', 'sent'])[1 + (row_number() OVER () % 5)::int],
           'x', 100000.50, 20000, 500, 0
    FROM clinical.visits v WHERE v.facility_id = ${f19010} ORDER BY v.id LIMIT 10`);
  await assertAllMatch('claims inserted');
  const c = (await chart('claims', { from: day(0), to: day(0), district: '19010' }))[0];
  assert.equal(c.claims, 10);
  assert.equal(c.rejection_rate, Number((c.rejected / (c.accepted + c.rejected)).toFixed(4)));
  srv.sql(`UPDATE claims.batch_items SET state = 'rejected' WHERE batch_id = ${bid} AND state = 'sent'`);
  await assertAllMatch('claims answered');
  srv.sql(`DELETE FROM claims.batches WHERE id = ${bid}`);
  srv.sql(`DELETE FROM pharmacy.dispensings WHERE invoice_code LIKE 'HD%'`);
  await assertAllMatch('claims batch and dispensings deleted');
  assertRollupsEqualRebuild('prescriptions and claims');
});

test('rows applied as by logical replication (session_replication_role = replica) are counted by the ALWAYS row triggers', async () => {
  // the row triggers are ENABLE ALWAYS, the statement triggers fire only for local writes
  const modes = lines(srv.sql(`SELECT tgname || ' ' || tgenabled::text FROM pg_trigger WHERE tgname LIKE 'dash_%' ORDER BY 1`));
  assert.ok(modes.length >= 30);
  for (const m of modes) {
    const [name, mode] = m.split(' ');
    const always = name.endsWith('_row') || ['dash_clinical_visits_del', 'dash_clinical_patients_del', 'dash_claims_batches_del'].includes(name);
    assert.equal(mode, always ? 'A' : 'O', name);
  }
  const f = `(SELECT id FROM core.facilities WHERE code = '19020')`;
  // a district's rows arriving in the order an initial table copy may use: diagnoses before their visit,
  // the visit before its patient; then an update and a delete, all as the apply worker does them
  srv.sql(`BEGIN; SET LOCAL session_replication_role = replica;
    INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary) VALUES (7900000001, ${f}, 0, 'B05.9', true), (7900000001, ${f}, 1, 'A90', false);
    INSERT INTO clinical.visits (id, facility_id, patient_id, ma_lk, kind, received_at) VALUES (7900000001, ${f}, 7900000002, 'R7900000001', 'outpatient', now() - interval '2 days');
    INSERT INTO clinical.patients (id, facility_id, full_name, name_fold, birth_year, commune_code) VALUES (7900000002, ${f}, 'Ma Thị Rép', 'ma thi rep', 2019, '05665');
    INSERT INTO clinical.health_records (patient_id, facility_id) VALUES (7900000002, ${f});
    COMMIT;`);
  await assertAllMatch('replicated inserts');
  const m = (await chart('notifiable-diseases', { from: day(-2), to: day(-2), district: '19020' }))
    .filter((r) => r.commune_code === '05665' && r.disease === 'measles');
  assert.equal(m.length, 1);
  assert.equal(m[0].alert, true);
  srv.sql(`BEGIN; SET LOCAL session_replication_role = replica;
    UPDATE clinical.visits SET state = 'closed', discharged_at = now(), referral_to = '19001', referral_reason = 'x' WHERE id = 7900000001;
    UPDATE clinical.patients SET commune_code = '01906' WHERE id = 7900000002;
    UPDATE clinical.visit_diagnoses SET icd10 = 'B08.4' WHERE visit_id = 7900000001 AND seq = 1;
    COMMIT;`);
  await assertAllMatch('replicated updates');
  srv.sql(`BEGIN; SET LOCAL session_replication_role = replica;
    DELETE FROM clinical.visits WHERE id = 7900000001;
    DELETE FROM clinical.visit_diagnoses WHERE visit_id = 7900000001;
    DELETE FROM clinical.health_records WHERE patient_id = 7900000002;
    DELETE FROM clinical.patients WHERE id = 7900000002;
    COMMIT;`);
  await assertAllMatch('replicated deletes');
  assertRollupsEqualRebuild('replica path');
});

test('a new visit changes one rollup row by one, without recomputing the others', async () => {
  // Tamper with a rollup row of a past day: if anything re-scanned history it would be put right.
  const f = `(SELECT id FROM core.facilities WHERE code = '19010')`;
  const past = srv.sql(`SELECT day FROM dash.visits_daily WHERE facility_id = ${f} AND day < dash.vn_day(now()) - 7 ORDER BY day LIMIT 1`);
  srv.sql(`UPDATE dash.visits_daily SET visits = visits + 1000 WHERE facility_id = ${f} AND day = '${past}'`);
  const snapshot = () => new Map(lines(srv.sql(`SELECT facility_id || '/' || day || ' ' || xmin || ' ' || visits FROM dash.visits_daily`))
    .map((l) => { const [k, x, n] = l.split(' '); return [k, { x, n: Number(n) }]; }));
  srv.sql('SELECT dash.fold()');
  const s0 = snapshot();
  const todayKey = `${srv.sql(`SELECT id FROM core.facilities WHERE code = '19010'`)}/${day(0)}`;
  const pid = await newPatient();
  const r = await doctor.post('/api/v1/visits', { patient_id: pid, kind: 'outpatient' });
  assert.equal(r.status, 201);
  // The visit is a delta row (no rollup row locked by the request) until a
  // fold (the server's, every few seconds, or this one) moves it into
  // today's row, and only there.
  srv.sql('SELECT dash.fold()');
  assert.equal(srv.sql('SELECT count(*) FROM dash.visits_daily_delta'), '0');
  const s1 = snapshot();
  const changed = [...s1].filter(([k, v]) => !s0.has(k) || s0.get(k).x !== v.x).map(([k]) => k);
  assert.deepEqual(changed, [todayKey], 'only today\'s row of the facility was written');
  assert.equal(s1.get(todayKey).n, (s0.get(todayKey)?.n ?? 0) + 1);
  const key = `${srv.sql(`SELECT id FROM core.facilities WHERE code = '19010'`)}/${past}`;
  assert.equal(s1.get(key).n, s0.get(key).n, 'the tampered past row was not recomputed');
  // a visit's vitals change nothing in the rollups (its keys did not change)
  const p = await doctor.patch(`/api/v1/visits/${r.json.id}`, { vitals: { pulse: 80 } }, { 'If-Match': '"1"' });
  assert.equal(p.status, 200, p.text);
  const s2 = snapshot();
  assert.deepEqual([...s2].filter(([k, v]) => s1.get(k)?.x !== v.x), []);
  srv.sql('SELECT dash.rebuild()');
  assert.equal(snapshot().get(key).n, s0.get(key).n - 1000, 'dash.rebuild() puts it right');
});

test('CSV: same rows as JSON, a header row, text/csv, a file name', async () => {
  for (const name of ['visits-per-day', 'top-diagnoses', 'notifiable-diseases', 'record-coverage', 'prescriptions', 'claims', 'referrals']) {
    const q = `from=${day(-200)}&to=${day(0)}&district=19010`;
    const j = await syt.get(`/api/v1/dashboard/${name}?${q}`);
    const c = await syt.get(`/api/v1/dashboard/${name}?${q}&format=csv`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.match(c.headers.get('content-disposition'), new RegExp(`attachment; filename="${name}_.*_19010\\.csv"`));
    const rows = c.text.replace(/^\uFEFF/, '').split('\r\n').filter(Boolean);
    const header = rows[0].split(',');
    assert.equal(rows.length - 1, j.json.rows.length, name);
    if (j.json.rows.length) assert.deepEqual(header, Object.keys(j.json.rows[0]), name);
    else assert.ok(header.length >= 2, name);
  }
  const c = await syt.get(`/api/v1/dashboard/notifiable-diseases?from=${day(-364)}&to=${day(0)}&format=csv`);
  assert.match(c.text, /"Hand, foot and mouth disease"/, 'a comma inside a field is quoted');
  const t = await syt.get(`/api/v1/dashboard/top-diagnoses?from=${day(-30)}&to=${day(0)}&format=csv&limit=3`);
  assert.equal(t.text.replace(/^\uFEFF/, '').split('\r\n')[0], 'rank,icd10,name_vi,name_en,cases');
});

test('bad input: 422 naming from, to, district, format, limit, by', async () => {
  const bad = async (q, fields) => {
    const r = await syt.get(`/api/v1/dashboard/visits-per-day?${q}`);
    assert.equal(r.status, 422, q);
    assert.match(r.headers.get('content-type'), /application\/problem\+json/);
    assert.deepEqual(r.json.errors.map((e) => e.field).sort(), fields.sort(), q);
  };
  await bad('from=2026-02-30', ['from']);
  await bad('from=yesterday&to=2026-13-01', ['from', 'to']);
  await bad('from=2026-03-01&to=2026-02-01', ['from']);
  await bad('from=2020-01-01&to=2026-01-01', ['to']);            // longer than 731 days
  await bad('district=19101', ['district']);                      // a commune station, not a district
  await bad('district=19999', ['district']);
  await bad(`district=${'9'.repeat(300)}`, ['district']);
  await bad('district=19010&format=xlsx', ['format']);
  const l = await syt.get('/api/v1/dashboard/top-diagnoses?limit=500');
  assert.equal(l.status, 422);
  assert.equal(l.json.errors[0].field, 'limit');
  const b = await syt.get('/api/v1/dashboard/visits-per-day?by=commune');
  assert.equal(b.status, 422);
  assert.equal(b.json.errors[0].field, 'by');
  // without from/to: the last 30 days up to today
  const d = await syt.get('/api/v1/dashboard/visits-per-day');
  assert.equal(d.status, 200);
  assert.equal(d.json.to, day(0));
  assert.equal(d.json.from, day(-29));
  const ok = await syt.get('/api/v1/dashboard/visits-per-day?from=2024-01-01&to=2025-12-31');
  assert.equal(ok.status, 200, 'exactly 731 days is allowed');
});

test('roles: health department and admin read; other roles 403, anonymous 401; RLS by province', async () => {
  for (const c of [doctor, commune, await srv.login('ds.lan'), await srv.login('bh.minh')]) {
    const r = await c.get('/api/v1/dashboard/visits-per-day');
    assert.equal(r.status, 403, c.user.username);
  }
  assert.equal((await srv.anon().get('/api/v1/dashboard/claims')).status, 401);
  const a = await admin.get(`/api/v1/dashboard/visits-per-day?from=${day(-30)}&to=${day(0)}`);
  assert.equal(a.status, 200);
  assert.ok(a.json.rows.length > 0);
  const meta = await syt.get('/api/v1/dashboard');
  assert.equal(meta.status, 200);
  assert.deepEqual(meta.json.districts.map((d) => d.code), ['19010', '19020']);
  assert.ok(meta.json.diseases.find((d) => d.disease === 'hfmd').icd10.includes('B08.4'));

  // row-level security alone, as the server's role: another role, or a facility of another province, sees nothing
  const asApp = (fac, role) => srv.sql(`BEGIN; SET LOCAL ROLE his_app;
    SELECT set_config('his.facility_id', (SELECT id FROM core.facilities WHERE code = '${fac}')::text, true);
    SELECT set_config('his.role', '${role}', true);
    SELECT 'n=' || ((SELECT count(*) FROM dash.visits_daily) + (SELECT count(*) FROM dash.notifiable_weekly)
      + (SELECT count(*) FROM dash.record_coverage) + (SELECT count(*) FROM dash.diagnoses_monthly)); COMMIT;`)
    .split('\n').find((l) => l.startsWith('n=')).slice(2);
  assert.ok(Number(asApp('19000', 'health_department')) > 100);
  assert.equal(asApp('19010', 'doctor'), '0');
  srv.sql(`INSERT INTO core.facilities (code, name, level, province_code) VALUES ('06000', 'Sở Y tế (tỉnh khác)', 'health_department', '06')`);
  assert.equal(asApp('06000', 'health_department'), '0');
  assert.throws(() => srv.sql(`BEGIN; SET LOCAL ROLE his_app; INSERT INTO dash.visits_daily VALUES (1, current_date, '19', 5); COMMIT;`), /permission denied/);
});
