// Visits (issue 4 point 2): reception with MA_LK and the coverage snapshot,
// vitals/notes/diagnoses/services/results, ICD-10 and range checks naming the
// field, closing (one primary diagnosis, referral out), amendment of a closed
// visit by a new version only, history paging, roles, facility scope, audit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, BIN } from '../lib/server.mjs';

let srv, doctor, nurse, other, provincial;

before(async () => {
  srv = await startServer();
  doctor = await srv.login('bs.an');        // 19010 district hospital
  nurse = await srv.login('dd.hoa');        // 19010
  other = await srv.login('bs.binh');       // 19020, another facility
  provincial = await srv.login('bs.tinh');  // 19001 provincial hospital
});
after(async () => { await srv?.stop(); });

const audits = (where) => Number(srv.sql(`SELECT count(*) FROM audit.events WHERE ${where}`));
let seq = 0;

async function newPatient(client = doctor, card = null) {
  seq++;
  const body = { full_name: `Hoàng Văn Khám ${String.fromCharCode(65 + (seq % 26))}${seq}`, birth_date: `19${50 + (seq % 40)}-03-0${1 + (seq % 8)}`, sex: 'male', confirm_new: true };
  if (card) body.insurance_card = card;
  const r = await client.post('/api/v1/patients', body);
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function newVisit(patientId, kind = 'outpatient', client = doctor, extra = {}) {
  const r = await client.post('/api/v1/visits', { patient_id: patientId, kind, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

const etag = (r) => r.headers.get('etag');

test('creating a visit returns id and a unique MA_LK; Idempotency-Key gives one visit', async () => {
  const pid = await newPatient();
  const a = await newVisit(pid);
  const b = await newVisit(pid);
  assert.ok(a.id > 0 && b.id > 0 && a.id !== b.id);
  assert.match(a.ma_lk, /^19010\d{6}\d{8,}$/);
  assert.ok(a.ma_lk.length <= 50);
  assert.notEqual(a.ma_lk, b.ma_lk);
  assert.equal(a.state, 'open');
  assert.equal(a.kind, 'outpatient');
  assert.equal(a.patient_id, pid);
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.visits WHERE ma_lk = '${a.ma_lk}'`), '1');
  // the key is enforced by the database too
  assert.throws(() => srv.sql(`UPDATE clinical.visits SET ma_lk = '${a.ma_lk}' WHERE id = ${b.id}`), /unique|duplicate/i);

  const h = { 'Idempotency-Key': `visit-${pid}` };
  const r1 = await doctor.post('/api/v1/visits', { patient_id: pid, kind: 'emergency' }, h);
  const r2 = await doctor.post('/api/v1/visits', { patient_id: pid, kind: 'emergency' }, h);
  assert.equal(r1.status, 201);
  assert.equal(r2.status, 201);
  assert.equal(r2.json.id, r1.json.id);
  assert.equal(r2.json.ma_lk, r1.json.ma_lk);
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.visits WHERE patient_id = ${pid} AND kind = 'emergency'`), '1');
  assert.ok(audits(`action = 'create' AND entity = 'visit' AND entity_id = '${a.id}' AND patient_id = ${pid} AND outcome = 'ok'`) === 1);
});

test('reception checks its input and names the field', async () => {
  const cases = [
    [{ kind: 'outpatient' }, 'patient_id'],
    [{ patient_id: 1, kind: 'daycare' }, 'kind'],
    [{ patient_id: 999999999, kind: 'outpatient' }, 'patient_id'],
    [{ patient_id: 1, kind: 'outpatient', referral_from: '19' }, 'referral_from'],
    [{ patient_id: 1, kind: 'outpatient', colour: 'red' }, 'colour'],
  ];
  for (const [body, field] of cases) {
    const r = await doctor.post('/api/v1/visits', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.headers.get('content-type'), /application\/problem\+json/);
    assert.ok(r.json.errors.some((e) => e.field === field), `${field} in ${r.text}`);
  }
});

test('vitals, notes, diagnoses, services and results round-trip', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  const g0 = await doctor.get(`/api/v1/visits/${v.id}`);
  assert.equal(g0.status, 200);
  assert.equal(etag(g0), '"1"');
  const body = {
    vitals: { pulse: 88, temperature: 38.5, systolic: 130, diastolic: 85, respiration: 20, weight_kg: 61.5, height_cm: 165 },
    notes: 'Họng đỏ, amidan sưng. Phổi không rale.',
    diagnoses: [{ icd10: 'J03.9', primary: true }, { icd10: 'r50.9', primary: false }],
    services: [{ code: 'KB.0001', quantity: 1 }, { code: 'XN.0001', quantity: 1 }],
  };
  const p = await doctor.patch(`/api/v1/visits/${v.id}`, body, { 'If-Match': etag(g0) });
  assert.equal(p.status, 200, p.text);
  assert.equal(etag(p), '"2"');
  const g = await doctor.get(`/api/v1/visits/${v.id}`);
  const j = g.json;
  for (const k of ['id', 'ma_lk', 'patient_id', 'kind', 'state', 'vitals', 'notes', 'diagnoses', 'services'])
    assert.ok(k in j, k);
  assert.deepEqual(j.vitals, body.vitals);
  assert.equal(j.notes, body.notes);
  assert.deepEqual(j.diagnoses.map(({ icd10, primary }) => ({ icd10, primary })),
    [{ icd10: 'J03.9', primary: true }, { icd10: 'R50.9', primary: false }]);
  assert.match(j.diagnoses[0].name, /amidan/i);
  assert.deepEqual(j.services.map(({ code, quantity }) => ({ code, quantity })), body.services);

  // results on an ordered service; clearing one vital with null
  const r = await doctor.patch(`/api/v1/visits/${v.id}`, {
    vitals: { respiration: null },
    results: [{ code: 'XN.0001', value: 12.4, unit: 'G/L', reference_range: '4.0-10.0', text: 'Bạch cầu tăng' }],
  }, { 'If-Match': '"2"' });
  assert.equal(r.status, 200, r.text);
  const s = r.json.services.find((x) => x.code === 'XN.0001');
  assert.equal(s.result.value, '12.4');
  assert.equal(s.result.unit, 'G/L');
  assert.equal(s.result.text, 'Bạch cầu tăng');
  assert.ok(s.result.at);
  assert.equal(r.json.vitals.respiration, null);
  assert.equal(r.json.vitals.pulse, 88);

  // replacing the service list keeps the results of the services kept
  const r2 = await doctor.patch(`/api/v1/visits/${v.id}`, { services: [{ code: 'XN.0001', quantity: 2 }] }, { 'If-Match': '"3"' });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.json.services.length, 1);
  assert.equal(r2.json.services[0].quantity, 2);
  assert.equal(r2.json.services[0].result.value, '12.4');

  // a result for a service not ordered is refused
  const r3 = await doctor.patch(`/api/v1/visits/${v.id}`, { results: [{ code: 'HA.0001', text: 'x' }] }, { 'If-Match': '"4"' });
  assert.equal(r3.status, 422);
  assert.equal(r3.json.errors[0].field, 'results[0].code');
  assert.ok(audits(`action = 'update' AND entity = 'visit' AND entity_id = '${v.id}' AND outcome = 'ok'`) >= 3);
});

test('unknown ICD-10 codes, unknown services and out-of-range vitals get 422 naming the field; nothing changes', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  const before = srv.sql(`SELECT version || '|' || coalesce(pulse::text, '') FROM clinical.visits WHERE id = ${v.id}`);
  const cases = [
    [{ diagnoses: [{ icd10: 'J06.9', primary: true }, { icd10: 'X99.9' }] }, 'diagnoses[1].icd10'],
    [{ diagnoses: [{ icd10: 'not a code' }] }, 'diagnoses[0].icd10'],
    [{ diagnoses: [{ icd10: 'J06.9', primary: true }, { icd10: 'J00', primary: true }] }, 'diagnoses[1].primary'],
    [{ diagnoses: [{ icd10: 'J06.9' }, { icd10: 'j06.9' }] }, 'diagnoses[1].icd10'],
    [{ vitals: { pulse: 400 } }, 'vitals.pulse'],
    [{ vitals: { pulse: 80.5 } }, 'vitals.pulse'],
    [{ vitals: { temperature: 50 } }, 'vitals.temperature'],
    [{ vitals: { systolic: 120, diastolic: 130 } }, 'vitals.diastolic'],
    [{ vitals: { weight_kg: 'heavy' } }, 'vitals.weight_kg'],
    [{ vitals: { bmi: 22 } }, 'vitals.bmi'],
    [{ services: [{ code: 'NO.SUCH', quantity: 1 }] }, 'services[0].code'],
    [{ services: [{ code: 'KB.0001', quantity: 0 }] }, 'services[0].quantity'],
    [{ notes: 'x'.repeat(20001) }, 'notes'],
  ];
  for (const [body, field] of cases) {
    const r = await doctor.patch(`/api/v1/visits/${v.id}`, body, { 'If-Match': '"1"' });
    assert.equal(r.status, 422, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
    assert.ok(r.json.errors.some((e) => e.field === field), `${field} in ${r.text}`);
  }
  // limits: 1 primary + 12 secondary (MA_BENH_KT), 200 services
  const codes = ['J00', 'J02.9', 'J03.9', 'J06.9', 'J20.9', 'J18.9', 'R05', 'R50.9', 'R51', 'I10', 'E11.9', 'K29.7', 'M54.5', 'N39.0'];
  const many = await doctor.patch(`/api/v1/visits/${v.id}`, { diagnoses: codes.map((c, i) => ({ icd10: c, primary: i === 0 })) }, { 'If-Match': '"1"' });
  assert.equal(many.status, 422);
  assert.equal(many.json.errors[0].field, 'diagnoses');
  const svc = await doctor.patch(`/api/v1/visits/${v.id}`, { services: Array.from({ length: 201 }, () => ({ code: 'KB.0001' })) }, { 'If-Match': '"1"' });
  assert.equal(svc.status, 422);
  assert.equal(svc.json.errors[0].field, 'services');
  const ok13 = await doctor.patch(`/api/v1/visits/${v.id}`, { diagnoses: codes.slice(0, 13).map((c, i) => ({ icd10: c, primary: i === 0 })) }, { 'If-Match': '"1"' });
  assert.equal(ok13.status, 200, ok13.text);
  assert.equal(ok13.json.diagnoses.length, 13);
  assert.notEqual(before, srv.sql(`SELECT version || '|' || coalesce(pulse::text, '') FROM clinical.visits WHERE id = ${v.id}`));
  assert.ok(audits(`action = 'update' AND entity_id = '${v.id}' AND outcome = 'invalid'`) >= 1);
});

test('PATCH needs If-Match and a stale one gets 412 with the stored visit unchanged', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  const none = await doctor.patch(`/api/v1/visits/${v.id}`, { notes: 'a' });
  assert.equal(none.status, 428);
  assert.equal((await doctor.patch(`/api/v1/visits/${v.id}`, { notes: 'first' }, { 'If-Match': '"1"' })).status, 200);
  const stale = await doctor.patch(`/api/v1/visits/${v.id}`, { notes: 'second' }, { 'If-Match': '"1"' });
  assert.equal(stale.status, 412);
  assert.equal(etag(stale), '"2"');
  assert.equal(srv.sql(`SELECT notes FROM clinical.visits WHERE id = ${v.id}`), 'first');
});

test('closing needs exactly one primary diagnosis; a referral out records destination and reason', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  const c0 = await doctor.post(`/api/v1/visits/${v.id}/close`, {});
  assert.equal(c0.status, 422);
  assert.equal(c0.json.errors[0].field, 'diagnoses');
  await doctor.patch(`/api/v1/visits/${v.id}`, { diagnoses: [{ icd10: 'I10', primary: false }] }, { 'If-Match': '"1"' });
  const c1 = await doctor.post(`/api/v1/visits/${v.id}/close`, {});
  assert.equal(c1.status, 422);
  assert.equal(srv.sql(`SELECT state FROM clinical.visits WHERE id = ${v.id}`), 'open');
  await doctor.patch(`/api/v1/visits/${v.id}`, { diagnoses: [{ icd10: 'I63.9', primary: true }, { icd10: 'I10' }] }, { 'If-Match': '"2"' });

  const bad = await doctor.post(`/api/v1/visits/${v.id}/close`, { discharge: 2 });
  assert.equal(bad.status, 422);
  assert.equal(bad.json.errors[0].field, 'referral');
  const badTo = await doctor.post(`/api/v1/visits/${v.id}/close`, { referral: { to: '19010', reason: 'x' } });
  assert.equal(badTo.status, 422);
  assert.equal(badTo.json.errors[0].field, 'referral.to');

  const c = await doctor.post(`/api/v1/visits/${v.id}/close`, { outcome: 3, referral: { to: '19001', reason: 'Nhồi máu não, cần can thiệp mạch' } });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.state, 'closed');
  assert.equal(c.json.outcome, 3);
  assert.equal(c.json.discharge_type, 2);
  assert.deepEqual(c.json.referral, { to: '19001', reason: 'Nhồi máu não, cần can thiệp mạch' });
  assert.ok(c.json.discharged_at);
  const again = await doctor.post(`/api/v1/visits/${v.id}/close`, {});
  assert.equal(again.status, 409);

  // the database refuses a closed visit without a primary diagnosis, whatever the handler does
  assert.throws(() => srv.sql(`BEGIN; DELETE FROM clinical.visit_diagnoses WHERE visit_id = ${v.id}; UPDATE clinical.visits SET notes = 'x' WHERE id = ${v.id}; COMMIT;`), /primary/);

  // an ordinary discharge with names instead of codes
  const v2 = await newVisit(pid);
  await doctor.patch(`/api/v1/visits/${v2.id}`, { diagnoses: [{ icd10: 'J00', primary: true }] }, { 'If-Match': '"1"' });
  const c2 = await doctor.post(`/api/v1/visits/${v2.id}/close`, { outcome: 'cured', discharge: 'discharged' });
  assert.equal(c2.status, 200, c2.text);
  assert.equal(c2.json.outcome, 1);
  assert.equal(c2.json.discharge_type, 1);
  assert.equal(c2.json.referral, null);
  assert.ok(audits(`action = 'close' AND entity_id = '${v.id}' AND outcome = 'ok'`) === 1);
});

test('a closed visit is amended only by a new version: version 1 stays readable and unchanged', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  await doctor.patch(`/api/v1/visits/${v.id}`, { notes: 'Khám lần đầu', vitals: { pulse: 80 }, diagnoses: [{ icd10: 'K29.7', primary: true }] }, { 'If-Match': '"1"' });
  const closed = await doctor.post(`/api/v1/visits/${v.id}/close`, { outcome: 2 });
  assert.equal(closed.status, 200);
  assert.equal(closed.json.revision, 1);
  const original = (await doctor.get(`/api/v1/visits/${v.id}`)).json;

  // an amendment must keep exactly one primary diagnosis
  const noPrimary = await doctor.patch(`/api/v1/visits/${v.id}`, { diagnoses: [{ icd10: 'K21.9' }] }, { 'If-Match': etag(closed) });
  assert.equal(noPrimary.status, 422);
  assert.equal(noPrimary.json.errors[0].field, 'diagnoses');

  const a = await doctor.patch(`/api/v1/visits/${v.id}`, {
    notes: 'Bổ sung: nội soi thấy viêm trợt hang vị', diagnoses: [{ icd10: 'K29.7', primary: true }, { icd10: 'K21.9' }],
    amend_reason: 'Bổ sung kết quả nội soi',
  }, { 'If-Match': etag(closed) });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.json.state, 'closed');
  assert.equal(a.json.revision, 2);
  assert.equal(a.json.notes, 'Bổ sung: nội soi thấy viêm trợt hang vị');
  assert.equal(a.json.versions.length, 1);
  assert.equal(a.json.versions[0].revision, 1);

  const list = await doctor.get(`/api/v1/visits/${v.id}/versions`);
  assert.equal(list.status, 200);
  assert.equal(list.json.current_revision, 2);
  assert.equal(list.json.total, 1);
  assert.equal(list.json.items[0].reason, 'Bổ sung kết quả nội soi');
  const v1 = list.json.items[0].visit;
  // the first version is exactly what GET showed before the amendment
  delete original.versions;
  assert.deepEqual(v1, original);
  assert.equal(v1.notes, 'Khám lần đầu');
  assert.equal(v1.diagnoses.length, 1);
  const one = await doctor.get(`/api/v1/visits/${v.id}/versions/1`);
  assert.deepEqual(one.json, original);
  const two = await doctor.get(`/api/v1/visits/${v.id}/versions/2`);
  assert.equal(two.json.revision, 2);
  assert.equal((await doctor.get(`/api/v1/visits/${v.id}/versions/3`)).status, 404);

  // a second amendment makes revision 3 and keeps 1 and 2
  const b = await doctor.patch(`/api/v1/visits/${v.id}`, { vitals: { pulse: 76 } }, { 'If-Match': etag(a) });
  assert.equal(b.status, 200);
  assert.equal(b.json.revision, 3);
  const list2 = (await doctor.get(`/api/v1/visits/${v.id}/versions`)).json;
  assert.deepEqual(list2.items.map((i) => i.revision), [1, 2]);
  assert.deepEqual(list2.items[0].visit, original);
  assert.equal(list2.items[1].visit.notes, 'Bổ sung: nội soi thấy viêm trợt hang vị');
  // stored versions cannot be rewritten, even by the owner
  assert.throws(() => srv.sql(`UPDATE clinical.visit_versions SET reason = 'x' WHERE visit_id = ${v.id}`), /append-only/);
  assert.ok(audits(`action = 'amend' AND entity_id = '${v.id}' AND outcome = 'ok'`) === 2);
});

test('the coverage is snapshotted at reception and does not follow later card changes', async () => {
  const card = { number: 'HT3191234500001', valid_from: '2026-01-01', valid_to: '2026-12-31', primary_facility: '19010' };
  const pid = await newPatient(doctor, card);
  const v = await newVisit(pid);
  const cov = v.coverage;
  assert.equal(cov.card_number, 'HT3191234500001');
  assert.equal(cov.benefit_level, 3);
  assert.equal(cov.primary_facility, '19010');
  assert.equal(cov.route, 'correct_route');
  assert.equal(cov.benefit_percent, 95);
  assert.equal(cov.coverage_percent, 95);
  assert.equal(cov.card_valid, true);

  // the card changes: level 4, another registered facility
  const g = await doctor.get(`/api/v1/patients/${pid}`);
  const p = await doctor.patch(`/api/v1/patients/${pid}`, {
    insurance_card: { number: 'DN4191234500001', valid_from: '2026-06-01', valid_to: '2027-05-31', primary_facility: '19101' },
  }, { 'If-Match': etag(g) });
  assert.equal(p.status, 200, p.text);
  const after = (await doctor.get(`/api/v1/visits/${v.id}`)).json.coverage;
  assert.deepEqual(after, cov);
  // a visit received now takes the new card: level 4 (80 %) and free routing at a district hospital
  const v2 = await newVisit(pid);
  assert.equal(v2.coverage.card_number, 'DN4191234500001');
  assert.equal(v2.coverage.benefit_level, 4);
  assert.equal(v2.coverage.route, 'free_route');
  assert.equal(v2.coverage.coverage_percent, 80);
});

test('route rules: emergency, referral, provincial outpatient, expired card, no card', async () => {
  const card = { number: 'DN4191234500002', valid_from: '2026-01-01', valid_to: '2026-12-31', primary_facility: '19101' };
  const pid = await newPatient(doctor, card);
  const e = await newVisit(pid, 'emergency');
  assert.equal(e.coverage.route, 'emergency');
  assert.equal(e.coverage.coverage_percent, 80);
  const r = await newVisit(pid, 'outpatient', doctor, { referral_from: '19101', referral_paper: 'CT-2026-0001' });
  assert.equal(r.coverage.route, 'referral');
  assert.equal(r.referral_from, '19101');

  const ppid = await newPatient(provincial, card);
  const po = await newVisit(ppid, 'outpatient', provincial);
  assert.equal(po.coverage.route, 'wrong_route');
  assert.equal(po.coverage.route_percent, 50); // from 01/07/2026 (Decree 188)
  assert.equal(po.coverage.coverage_percent, 40);
  const pi = await newVisit(ppid, 'inpatient', provincial);
  assert.equal(pi.coverage.route_percent, 100);
  assert.ok(pi.admitted_at);

  const expired = await newPatient(doctor, { number: 'GD4191234500003', valid_from: '2024-01-01', valid_to: '2024-12-31', primary_facility: '19010' });
  const x = await newVisit(expired);
  assert.equal(x.coverage.card_valid, false);
  assert.equal(x.coverage.route, 'uninsured');
  assert.equal(x.coverage.coverage_percent, 0);
  const nocard = await newVisit(await newPatient());
  assert.equal(nocard.coverage.card_number, null);
  assert.equal(nocard.coverage.route, 'uninsured');

  // The reply to POST is built with the new row (no read back): it is the
  // visit exactly as GET shows it, for every kind and route above.
  for (const [v, client] of [[e, doctor], [r, doctor], [po, provincial], [pi, provincial], [x, doctor], [nocard, doctor]]) {
    const g = await client.get(`/api/v1/visits/${v.id}`);
    assert.equal(g.status, 200);
    assert.deepEqual(v, g.json, `POST and GET of visit ${v.id} differ`);
    assert.ok(Array.isArray(v.versions) && v.versions.length === 0 && v.diagnoses.length === 0 && v.services.length === 0);
  }
});

test('a nurse records vitals but not the clinical content; visits are closed by doctors', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid, 'outpatient', nurse);
  assert.equal(v.doctor_id, null);
  const ok = await nurse.patch(`/api/v1/visits/${v.id}`, { vitals: { pulse: 72, temperature: 36.8 } }, { 'If-Match': '"1"' });
  assert.equal(ok.status, 200, ok.text);
  const no = await nurse.patch(`/api/v1/visits/${v.id}`, { diagnoses: [{ icd10: 'J00', primary: true }] }, { 'If-Match': '"2"' });
  assert.equal(no.status, 403);
  assert.equal(no.json.errors[0].field, 'diagnoses');
  assert.equal((await nurse.post(`/api/v1/visits/${v.id}/close`, {})).status, 403);
  const pharm = await srv.login('ds.lan');
  assert.equal((await pharm.get(`/api/v1/visits/${v.id}`)).status, 403);
});

test('another facility\'s doctor can neither read nor change a visit (404), and every access is audited', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  assert.equal((await doctor.get(`/api/v1/visits/${v.id}`)).status, 200);
  assert.ok(audits(`action = 'read' AND entity = 'visit' AND entity_id = '${v.id}' AND patient_id = ${pid} AND outcome = 'ok'`) >= 1);

  assert.equal((await other.get(`/api/v1/visits/${v.id}`)).status, 404);
  assert.equal((await other.patch(`/api/v1/visits/${v.id}`, { notes: 'x' }, { 'If-Match': '"1"' })).status, 404);
  assert.equal((await other.post(`/api/v1/visits/${v.id}/close`, {})).status, 404);
  assert.equal((await other.get(`/api/v1/visits/${v.id}/versions`)).status, 404);
  assert.equal((await other.get(`/api/v1/patients/${pid}/visits`)).status, 404);
  const cross = await other.post('/api/v1/visits', { patient_id: pid, kind: 'outpatient' });
  assert.equal(cross.status, 422);
  assert.equal(cross.json.errors[0].field, 'patient_id');
  assert.equal(srv.sql(`SELECT notes IS NULL AND version = 1 FROM clinical.visits WHERE id = ${v.id}`), 't');
  const otherId = srv.sql(`SELECT id FROM core.users WHERE username = 'bs.binh'`);
  assert.ok(audits(`user_id = ${otherId} AND entity = 'visit' AND entity_id = '${v.id}' AND outcome = 'not_found'`) >= 3);

  // row-level security alone hides the rows from the application role
  const fac = srv.sql(`SELECT id FROM core.facilities WHERE code = '19020'`);
  const seen = srv.sql(`BEGIN; SET LOCAL ROLE his_app; SELECT set_config('his.facility_id', '${fac}', true); `
    + `SELECT count(*) FROM clinical.visits WHERE id = ${v.id}; COMMIT;`).split('\n');
  assert.equal(seen[1], '0');
});

test('visit history: newest first, paged, quick for a patient with 700 visits', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  await doctor.patch(`/api/v1/visits/${v.id}`, { diagnoses: [{ icd10: 'I10', primary: true }] }, { 'If-Match': '"1"' });
  // 699 older visits straight into the table
  srv.sql(`INSERT INTO clinical.visits (facility_id, patient_id, ma_lk, kind, state, received_at, discharged_at)
           SELECT v.facility_id, v.patient_id, 'T' || v.id || 'N' || g, 'outpatient', 'closed',
                  v.received_at - g * interval '1 day', v.received_at - g * interval '1 day' + interval '1 hour'
           FROM clinical.visits v, generate_series(1, 699) g WHERE v.id = ${v.id};
           INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary)
           SELECT id, facility_id, 0, 'I10', true FROM clinical.visits WHERE patient_id = ${pid} AND id <> ${v.id};
           ANALYZE clinical.visits;`);
  const t0 = performance.now();
  const first = await doctor.get(`/api/v1/patients/${pid}/visits`);
  const ms = performance.now() - t0;
  assert.equal(first.status, 200);
  assert.equal(first.json.total, 700);
  assert.equal(first.json.items.length, 50);
  assert.equal(first.json.items[0].id, v.id);
  assert.equal(first.json.items[0].primary_diagnosis.icd10, 'I10');
  const times = first.json.items.map((i) => Date.parse(i.received_at));
  assert.deepEqual(times, [...times].sort((a, b) => b - a));
  const last = await doctor.get(`/api/v1/patients/${pid}/visits?limit=200&offset=600`);
  assert.equal(last.json.items.length, 100);
  assert.ok(Date.parse(last.json.items.at(-1).received_at) < times.at(-1));
  assert.ok(ms < 1000, `history took ${ms} ms`);
  // the plan is an index range scan, not a sort of all 700 rows
  const plan = srv.sql(`SET enable_seqscan = off; EXPLAIN SELECT id FROM clinical.visits WHERE patient_id = ${pid} ORDER BY received_at DESC, id DESC LIMIT 50`);
  assert.match(plan, /visits_patient_received/);
  assert.doesNotMatch(plan, /Sort/);
  const bad = await doctor.get(`/api/v1/patients/${pid}/visits?limit=1000`);
  assert.equal(bad.status, 422);
  assert.equal(bad.json.errors[0].field, 'limit');
  assert.ok(audits(`action = 'read' AND entity = 'patient_visits' AND patient_id = ${pid}`) >= 2);
});

test('the doctor\'s day lists today\'s visits of the facility', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  const r = await doctor.get('/api/v1/visits?state=open');
  assert.equal(r.status, 200);
  const mine = r.json.items.find((i) => i.id === v.id);
  assert.ok(mine);
  assert.ok(mine.patient_name.startsWith('Hoàng Văn Khám'));
  assert.ok(!(await other.get('/api/v1/visits')).json.items.some((i) => i.id === v.id));
  assert.equal((await doctor.get('/api/v1/visits?date=2026-02-30')).status, 422);
});

test('the demo seed has a year of visits with diagnoses, services, closed and referred ones', async () => {
  const n = (q) => Number(srv.sql(q));
  assert.ok(n(`SELECT count(*) FROM clinical.visits WHERE ma_lk !~ '^T'`) > 500);
  assert.ok(n(`SELECT count(DISTINCT date_trunc('month', received_at)) FROM clinical.visits`) >= 12);
  assert.ok(n(`SELECT count(*) FROM clinical.visits WHERE state = 'closed' AND referral_to IS NOT NULL`) > 0);
  assert.ok(n(`SELECT count(*) FROM clinical.visits WHERE state = 'open'`) > 0);
  assert.ok(n(`SELECT count(*) FROM clinical.visit_diagnoses WHERE icd10 IN ('A90', 'A91')`) > 0);
  assert.ok(n(`SELECT count(*) FROM clinical.visit_services WHERE result_at IS NOT NULL`) > 0);
  assert.equal(n(`SELECT count(*) FROM clinical.visits v WHERE state = 'closed' AND
    (SELECT count(*) FROM clinical.visit_diagnoses d WHERE d.visit_id = v.id AND d.is_primary) <> 1`), 0);
  assert.ok(n(`SELECT count(DISTINCT facility_id) FROM clinical.visits`) >= 3);
});

test('the demo seed has a year of prescriptions: API rules, dispensings from stock lots, portal states, the dashboard chart', async () => {
  const n = (q) => Number(srv.sql(q));
  const rows = (q) => srv.sql(q).split('\n').filter(Boolean);
  const local = `pharmacy.prescriptions p WHERE p.origin = 'local'`;
  // Spread over the year at the hospitals (where doctors prescribe), with items.
  assert.ok(n(`SELECT count(*) FROM ${local}`) > 300);
  assert.ok(n(`SELECT count(DISTINCT date_trunc('month', issued_at)) FROM ${local}`) >= 12);
  assert.deepEqual(rows(`SELECT DISTINCT issuer_facility_code FROM ${local} ORDER BY 1`), ['19001', '19010', '19020']);
  assert.equal(n(`SELECT count(*) FROM ${local} AND NOT EXISTS (SELECT 1 FROM pharmacy.prescription_items i WHERE i.prescription_id = p.id)`), 0);
  // The national code: 14 characters, the issuer's code, 7 of [0-9a-z], '-', the type; one per facility.
  assert.equal(n(`SELECT count(*) FROM ${local} AND NOT (length(code) = 14 AND code ~ '^[0-9A-Za-z]{5}[0-9a-z]{7}-[NHCT]$'
    AND left(code, 5) = issuer_facility_code AND right(code, 1) = type)`), 0);
  assert.equal(n(`SELECT count(*) - count(DISTINCT code) FROM ${local}`), 0);
  // The type follows every item's class; each closed outpatient visit with a primary diagnosis; valid 5 days.
  assert.equal(n(`SELECT count(*) FROM pharmacy.prescription_items i JOIN pharmacy.prescriptions p ON p.id = i.prescription_id
    JOIN catalog.drugs d ON d.code = i.drug_code
    WHERE p.type <> CASE d.rx_class WHEN 'narcotic' THEN 'N' WHEN 'psychotropic' THEN 'H' WHEN 'herbal' THEN 'T' ELSE 'C' END`), 0);
  assert.ok(n(`SELECT count(DISTINCT type) FROM ${local}`) >= 3);
  assert.equal(n(`SELECT count(*) FROM ${local} AND NOT EXISTS (SELECT 1 FROM clinical.visits v WHERE v.id = p.visit_id
    AND v.kind = 'outpatient' AND v.state = 'closed' AND p.issued_at BETWEEN v.received_at AND v.discharged_at
    AND EXISTS (SELECT 1 FROM clinical.visit_diagnoses d WHERE d.visit_id = v.id AND d.is_primary))`), 0);
  assert.equal(n(`SELECT count(*) FROM ${local} AND valid_until <> (issued_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date + 5`), 0);
  // Dosage in Vietnamese; days agree with the quantity (whole units a day; bottles, tubes and vials are one).
  assert.equal(n(`SELECT count(*) FROM pharmacy.prescription_items WHERE dosage !~ '^(Uống|Pha|Bôi|Nhỏ|Xịt|Sắc) '`), 0);
  assert.equal(n(`SELECT count(*) FROM pharmacy.prescription_items WHERE unit IN ('viên', 'gói', 'g')
    AND NOT (quantity % days = 0 AND quantity / days BETWEEN 1 AND 16)`), 0);
  // Every item's days within its type's limit as the API computes it for the visit (rx_max_days with the
  // chronic list): asked of GET /visits/{id}/prescription-limits by each hospital's doctor.
  const byFacility = { 19010: doctor, 19020: other, 19001: provincial };
  const items = rows(`SELECT p.visit_id || '|' || p.issuer_facility_code || '|' || p.type || '|' || max(i.days) || '|' || p.chronic
    FROM pharmacy.prescriptions p JOIN pharmacy.prescription_items i ON i.prescription_id = p.id WHERE p.origin = 'local'
    GROUP BY p.id ORDER BY p.id`).map((l) => l.split('|'));
  const limits = new Map();
  for (let i = 0; i < items.length; i += 8) {
    await Promise.all(items.slice(i, i + 8).map(async ([vid, fac]) => {
      if (limits.has(vid)) return;
      const r = await byFacility[fac].get(`/api/v1/visits/${vid}/prescription-limits`);
      assert.equal(r.status, 200, r.text);
      limits.set(vid, r.json);
    }));
  }
  let chronicLong = 0;
  for (const [vid, , type, days, chronic] of items) {
    const l = limits.get(vid);
    assert.ok(Number(days) <= l.limits[type].max_days, `visit ${vid}: ${type} ${days} days > ${l.limits[type].max_days}`);
    assert.equal(chronic === 'true', l.chronic, `visit ${vid}: chronic flag`);
    if (Number(days) > 30) chronicLong++;
    if (type === 'C' && Number(days) > 30) assert.ok(l.chronic);
  }
  assert.equal(chronicLong, 0); // a month's supply at most: the demo's chronic patients come monthly
  assert.ok(items.some(([, , type, days, chronic]) => type === 'C' && chronic === 'true' && Number(days) === 30));
  // The signature verifies (his rx verify rebuilds the canonical form from the rows).
  for (const code of rows(`SELECT code FROM ${local} ORDER BY id DESC LIMIT 2`)) {
    const v = spawnSync(BIN, ['rx', 'verify', code, '--database-url', srv.dbUrl], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
    assert.equal(v.status, 0, v.stdout + v.stderr);
  }

  // Fates: a majority filled (at the hospital's dispensary or, for the other hospitals, at the retail
  // pharmacy through a portal copy), some partly, some cancelled, the newest still waiting.
  const filled = n(`SELECT count(*) FROM ${local} AND EXISTS (SELECT 1 FROM pharmacy.prescriptions c JOIN pharmacy.dispensings d
    ON d.prescription_id = c.id WHERE c.code = p.code)`);
  assert.ok(filled > n(`SELECT count(*) FROM ${local}`) / 2, `${filled} filled`);
  for (const st of ['dispensed', 'partially_dispensed'])
    for (const fac of ['19010', '19201'])
      assert.ok(n(`SELECT count(*) FROM pharmacy.prescriptions p JOIN core.facilities f ON f.id = p.facility_id
        WHERE p.state = '${st}' AND f.code = '${fac}'`) > 0, `${st} at ${fac}`);
  assert.ok(n(`SELECT count(*) FROM ${local} AND state = 'cancelled' AND cancel_reason IS NOT NULL AND cancelled_by = doctor_id`) > 0);
  assert.ok(n(`SELECT count(*) FROM ${local} AND issuer_facility_code = '19010' AND state = 'active'
    AND valid_until >= (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date`) > 0);
  assert.equal(n(`SELECT count(*) FROM pharmacy.prescriptions p WHERE origin = 'portal' AND (visit_id IS NOT NULL
    OR NOT EXISTS (SELECT 1 FROM pharmacy.prescriptions o WHERE o.code = p.code AND o.origin = 'local'))`), 0);
  // State and dispensed quantities agree with the dispensing rows, which agree with the stock moves.
  assert.equal(n(`SELECT count(*) FROM pharmacy.prescription_items i WHERE i.dispensed <> (SELECT coalesce(-sum(m.quantity), 0)
    FROM pharmacy.stock_moves m JOIN pharmacy.dispensings d ON d.id = m.dispensing_id
    WHERE d.prescription_id = i.prescription_id AND m.item_seq = i.seq AND m.kind = 'dispense')`), 0);
  assert.equal(n(`SELECT count(*) FROM pharmacy.prescriptions p JOIN LATERAL (SELECT sum(dispensed) AS d, sum(quantity) AS q
    FROM pharmacy.prescription_items WHERE prescription_id = p.id) t ON true
    WHERE p.state <> CASE WHEN p.state = 'cancelled' THEN 'cancelled' WHEN t.d = 0 THEN 'active'
                          WHEN t.d = t.q THEN 'dispensed' ELSE 'partially_dispensed' END
       OR (p.state = 'cancelled' AND t.d > 0)`), 0);
  assert.equal(n(`SELECT count(*) FROM pharmacy.dispensings d JOIN pharmacy.prescriptions p ON p.id = d.prescription_id
    WHERE d.dispensed_at < p.issued_at OR (d.dispensed_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date > p.valid_until
       OR d.dispensed_at > now() OR d.invoice_code !~ ('^' || (SELECT code FROM core.facilities WHERE id = d.facility_id) || '-HD' || d.id || '$')
       OR NOT EXISTS (SELECT 1 FROM pharmacy.stock_moves m WHERE m.dispensing_id = d.id)`), 0);
  // Stock: every lot's quantity is what was received minus what was dispensed (the ledger's sum), never below
  // zero; dispensings took lots that were received before and had not expired.
  assert.equal(n(`SELECT count(*) FROM pharmacy.stock_lots l WHERE l.quantity < 0 OR l.quantity <>
    (SELECT coalesce(sum(quantity) FILTER (WHERE kind = 'receipt'), 0) + coalesce(sum(quantity) FILTER (WHERE kind = 'dispense'), 0)
     FROM pharmacy.stock_moves m WHERE m.lot_id = l.id)`), 0);
  assert.ok(n(`SELECT count(DISTINCT m.lot_id) FROM pharmacy.stock_moves m WHERE m.kind = 'dispense'`) > 20);
  assert.equal(n(`SELECT count(*) FROM pharmacy.stock_moves m JOIN pharmacy.stock_lots l ON l.id = m.lot_id
    JOIN pharmacy.dispensings d ON d.id = m.dispensing_id WHERE m.kind = 'dispense'
    AND (l.received_at > d.dispensed_at OR l.expiry < (d.dispensed_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
         OR l.facility_id <> d.facility_id)`), 0);

  // The national portals: one message per prescription and per invoice, in the shape the server writes;
  // most acknowledged, some refused with the portal's error list, some waiting.
  assert.equal(n(`SELECT count(*) FROM ${local} AND (SELECT count(*) FROM core.outbox o WHERE o.target = 'prescription-portal'
    AND o.dedupe_key = p.code AND o.kind = 'gui-don-thuoc' AND o.facility_id = p.facility_id AND o.created_by = p.doctor_id
    AND (o.payload::jsonb)->>'ma_don_thuoc' = p.code AND (o.payload::jsonb)->>'signature' = p.signature
    AND jsonb_array_length((o.payload::jsonb)->'thong_tin_don_thuoc') =
        (SELECT count(*) FROM pharmacy.prescription_items i WHERE i.prescription_id = p.id)) <> 1`), 0);
  const states = Object.fromEntries(rows(`SELECT state || '|' || count(*) FROM core.outbox WHERE target = 'prescription-portal'
    GROUP BY state`).map((l) => l.split('|')).map(([k, v]) => [k, Number(v)]));
  assert.ok(states.acknowledged > 0.9 * n(`SELECT count(*) FROM ${local}`), JSON.stringify(states));
  assert.ok(states.error > 0 && states.queued > 0, JSON.stringify(states));
  assert.equal(n(`SELECT count(*) FROM core.outbox WHERE target = 'prescription-portal' AND state = 'error'
    AND NOT (jsonb_array_length(errors) = 1 AND errors->0 ? 'field' AND last_error IS NOT NULL)`), 0);
  assert.equal(n(`SELECT count(*) FROM pharmacy.dispensings d WHERE (SELECT count(*) FROM core.outbox o
    WHERE o.target = 'pharmacy-portal' AND o.kind = 'hoa_don' AND o.dedupe_key = d.invoice_code AND o.facility_id = d.facility_id
    AND (o.payload::jsonb)->>'ma_don_thuoc_quoc_gia' = (SELECT code FROM pharmacy.prescriptions WHERE id = d.prescription_id)
    AND jsonb_array_length((o.payload::jsonb)->'hoa_don_chi_tiet') = (SELECT count(*) FROM pharmacy.stock_moves m WHERE m.dispensing_id = d.id)) <> 1`), 0);

  // What the screens show: the pharmacist sees a filled one with its lots; the doctor sees the portal state.
  const lan = await srv.login('ds.lan');
  const code = srv.sql(`SELECT code FROM ${local} AND issuer_facility_code = '19010' AND state = 'dispensed' ORDER BY id LIMIT 1`);
  const g = await lan.get(`/api/v1/prescriptions/${code}`);
  assert.equal(g.status, 200, g.text);
  assert.equal(g.json.state, 'dispensed');
  assert.ok(g.json.dispensings.length >= 1 && g.json.dispensings[0].lines.every((l) => /^NK\d\dQ[1-4]-\d{4}$/.test(l.lot)));
  assert.equal((await doctor.get(`/api/v1/prescriptions/${code}`)).json.portal.state, 'acknowledged');

  // The provincial dashboard's chart: issued, dispensed and delivery numbers of the demo.
  const syt = await srv.login('syt.thu');
  const day = (o) => srv.sql(`SELECT to_char(dash.vn_day(now()) + ${o}, 'YYYY-MM-DD')`);
  const chart = await syt.get(`/api/v1/dashboard/prescriptions?from=${day(-400)}&to=${day(1)}`);
  assert.equal(chart.status, 200, chart.text);
  const sum = (k) => chart.json.rows.reduce((s, r) => s + r[k], 0);
  assert.equal(sum('issued'), n(`SELECT count(*) FROM ${local}`));
  assert.equal(sum('dispensings'), n(`SELECT count(*) FROM pharmacy.dispensings`));
  assert.ok(sum('issued') > 0 && sum('dispensings') > 0 && sum('cancelled') > 0);
  assert.equal(sum('portal_acknowledged'), states.acknowledged);
  assert.equal(sum('portal_error'), states.error);
  assert.equal(sum('portal_queued'), states.queued);
});

// The database's own rules on a visit row (schema 018: one BEFORE INSERT OR UPDATE trigger in place of 29
// CHECK constraints, for the write rate): each rule still refuses a bad value by itself with SQLSTATE
// 23514 naming the old constraint, a good row passes, NULLs pass, and nothing is written by a refusal.
test('the database refuses a visit row that breaks any of its 29 rules, naming the rule', async () => {
  const pid = await newPatient();
  const v = await newVisit(pid);
  const bad = [
    ['department', `repeat('x', 51)`, 'visits_department_check'],
    ['ma_lk', `'abc-1'`, 'visits_ma_lk_check'],
    ['kind', `'home'`, 'visits_kind_check'],
    ['state', `'gone'`, 'visits_state_check'],
    ['reason', `repeat('x', 501)`, 'visits_reason_check'],
    ['pulse', '19', 'visits_pulse_check'],
    ['temperature', '45.1', 'visits_temperature_check'],
    ['systolic', '301', 'visits_systolic_check'],
    ['diastolic', '19', 'visits_diastolic_check'],
    ['respiration', '81', 'visits_respiration_check'],
    ['weight_kg', '0.2', 'visits_weight_kg_check'],
    ['height_cm', '261', 'visits_height_cm_check'],
    ['notes', `repeat('x', 20001)`, 'visits_notes_check'],
    ['outcome', '9', 'visits_outcome_check'],
    ['discharge_type', '0', 'visits_discharge_type_check'],
    ['referral_from', `'1901'`, 'visits_referral_from_check'],
    ['referral_paper', `repeat('x', 51)`, 'visits_referral_paper_check'],
    ['referral_to', `'ab001'`, 'visits_referral_to_check'],
    ['referral_reason', `repeat('x', 1001)`, 'visits_referral_reason_check'],
    ['card_number', `'DN6190101234567'`, 'visits_card_number_check'],
    ['card_benefit_level', '6', 'visits_card_benefit_level_check'],
    ['referral_to', `'19001'`, 'visits_check3'],
    ['route', `'any'`, 'visits_route_check'],
    ['benefit_percent', '101', 'visits_benefit_percent_check'],
    ['route_percent', '-1', 'visits_route_percent_check'],
    ['coverage_percent', '100.01', 'visits_coverage_percent_check'],
    ['discharged_at', `received_at - interval '1 minute'`, 'visits_check'],
    ['admitted_at', `received_at - interval '1 minute'`, 'visits_check1'],
    ['state', `'closed'`, 'visits_check2'],
  ];
  assert.equal(new Set(bad.map((b) => b[2])).size, 29);
  const before = srv.sql(`SELECT md5(v::text) FROM clinical.visits v WHERE id = ${v.id}`);
  for (const [col, val, rule] of bad) {
    // The block always ends in an error that says what happened: the rule's SQLSTATE and constraint, or
    // 'accepted'.
    let err = '';
    try {
      srv.sql(`DO $t$ DECLARE c text; st text; BEGIN
        UPDATE clinical.visits SET ${col} = ${val} WHERE id = ${v.id};
        RAISE EXCEPTION 'outcome=accepted';
      EXCEPTION WHEN check_violation THEN
        GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, st = RETURNED_SQLSTATE;
        RAISE EXCEPTION 'outcome=refused sqlstate=% constraint=%', st, c;
      END $t$`);
    } catch (e) { err = String(e.stderr || e.message); }
    assert.match(err, new RegExp(`outcome=refused sqlstate=23514 constraint=${rule}\\b`), `${col} = ${val}: ${err}`);
  }
  assert.equal(srv.sql(`SELECT md5(v::text) FROM clinical.visits v WHERE id = ${v.id}`), before);
  // A row inside every rule (values at the edges), then NULLs again: both accepted.
  srv.sql(`UPDATE clinical.visits SET pulse = 20, temperature = 45, systolic = 300, diastolic = 20, respiration = 4,
    weight_kg = 0.3, height_cm = 260, outcome = 8, discharge_type = 1, card_benefit_level = 5, coverage_percent = 100,
    referral_from = '19001', notes = repeat('x', 20000) WHERE id = ${v.id}`);
  assert.equal(srv.sql(`SELECT pulse || ' ' || height_cm FROM clinical.visits WHERE id = ${v.id}`), '20 260.0');
  srv.sql(`UPDATE clinical.visits SET pulse = NULL, referral_from = NULL, notes = NULL WHERE id = ${v.id}`);
  // A new row is checked as well.
  assert.throws(() => srv.sql(`INSERT INTO clinical.visits (ma_lk, patient_id, facility_id, kind, route, created_by, updated_by)
    SELECT 'BAD-KEY', patient_id, facility_id, 'outpatient', 'uninsured', created_by, created_by FROM clinical.visits WHERE id = ${v.id}`),
    /visits_ma_lk_check/);
  assert.equal(srv.sql(`SELECT count(*) FROM pg_constraint WHERE conrelid = 'clinical.visits'::regclass AND contype = 'c'`), '0');
});
