// Personal health records (issue 4 point 3): the four sections of the QĐ 831
// form, structure checked field by field, each change versioned, If-Match with
// 412 and nothing lost, section 4 linked from the visits, roles, facility
// scope and audit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';

let srv, doctor, phucloc, babe, other;

before(async () => {
  srv = await startServer();
  doctor = await srv.login('bs.an');        // 19010
  phucloc = await srv.login('yt.phucloc');  // commune station 19101
  babe = await srv.login('yt.babe');        // commune station 19102
  other = await srv.login('bs.binh');       // 19020
});
after(async () => { await srv?.stop(); });

const audits = (where) => Number(srv.sql(`SELECT count(*) FROM audit.events WHERE ${where}`));
const etag = (r) => r.headers.get('etag');
let seq = 0;

async function newPatient(client) {
  seq++;
  const r = await client.post('/api/v1/patients', { full_name: `Lường Thị Hồ Sơ ${seq}`, birth_date: `2024-0${1 + (seq % 8)}-15`, sex: 'female', confirm_new: true });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

const record = {
  identity: { blood_group_abo: 'O', blood_group_rh: '+', mother_name: 'Lường Thị Mẹ', caregiver: 'Lường Thị Mẹ', caregiver_relationship: 'mẹ' },
  history: {
    birth: { delivery: 'normal', preterm: false, weight_g: 3100 },
    allergies: [{ type: 'food', agent: 'Tôm', reaction: 'Nổi mẩn' }],
    family_history: [{ relationship: 'bà ngoại', icd10: 'E11.9', name: 'Đái tháo đường' }],
  },
  prevention: {
    vaccinations: [
      { vaccine: 'BCG', dose: 1, date: '2024-03-16', place: 'Trạm Y tế xã Phúc Lộc' },
      { vaccine: 'Viêm gan B sơ sinh', dose: 1, date: '2024-03-15' },
    ],
    screenings: [{ type: 'Sàng lọc thính lực sơ sinh', date: '2024-03', result: 'Bình thường' }],
  },
};

test('a new record reads as empty with version 0; PUT with If-Match "0" creates version 1; sections round-trip', async () => {
  const pid = await newPatient(phucloc);
  const g = await phucloc.get(`/api/v1/patients/${pid}/health-record`);
  assert.equal(g.status, 200, g.text);
  assert.equal(etag(g), '"0"');
  assert.equal(g.json.version, 0);
  assert.deepEqual([g.json.identity, g.json.history, g.json.prevention], [{}, {}, {}]);
  assert.equal(g.json.patient.id, pid);
  assert.match(g.json.patient.full_name, /^Lường Thị Hồ Sơ/);
  assert.deepEqual(g.json.examinations, { items: [], total: 0 });

  const none = await phucloc.put(`/api/v1/patients/${pid}/health-record`, record);
  assert.equal(none.status, 428);
  const p = await phucloc.put(`/api/v1/patients/${pid}/health-record`, record, { 'If-Match': '"0"' });
  assert.equal(p.status, 200, p.text);
  assert.equal(etag(p), '"1"');
  const r = (await phucloc.get(`/api/v1/patients/${pid}/health-record`)).json;
  assert.equal(r.version, 1);
  assert.deepEqual(r.identity, record.identity);
  assert.deepEqual(r.history, record.history);
  assert.deepEqual(r.prevention, record.prevention);

  // sending back what GET returned (read-only members included) is accepted
  r.prevention.vaccinations.push({ vaccine: 'DPT-VGB-Hib', dose: 1, date: '2024-05-20' });
  const p2 = await phucloc.put(`/api/v1/patients/${pid}/health-record`, r, { 'If-Match': '"1"' });
  assert.equal(p2.status, 200, p2.text);
  assert.equal(p2.json.prevention.vaccinations.length, 3);
  // a section left out stays as it was
  const p3 = await phucloc.put(`/api/v1/patients/${pid}/health-record`, { identity: { blood_group_abo: 'A' } }, { 'If-Match': '"2"' });
  assert.equal(p3.status, 200);
  assert.deepEqual(p3.json.identity, { blood_group_abo: 'A' });
  assert.equal(p3.json.prevention.vaccinations.length, 3);
  assert.ok(audits(`entity = 'health_record' AND patient_id = ${pid} AND action = 'read' AND outcome = 'ok'`) >= 2);
  assert.ok(audits(`entity = 'health_record' AND patient_id = ${pid} AND action IN ('create', 'update') AND outcome = 'ok'`) === 3);
});

test('a stale If-Match gets 412 and the stored record is unchanged', async () => {
  const pid = await newPatient(phucloc);
  await phucloc.put(`/api/v1/patients/${pid}/health-record`, record, { 'If-Match': '"0"' });
  const a = await phucloc.put(`/api/v1/patients/${pid}/health-record`, { identity: { religion: 'Không' } }, { 'If-Match': '"1"' });
  assert.equal(a.status, 200);
  const stored = srv.sql(`SELECT version || identity::text || history::text || prevention::text FROM clinical.health_records WHERE patient_id = ${pid}`);
  const versions = srv.sql(`SELECT count(*) FROM clinical.health_record_versions WHERE patient_id = ${pid}`);
  // a second user edited from the same first read
  const b = await phucloc.put(`/api/v1/patients/${pid}/health-record`, { identity: { religion: 'Phật giáo' } }, { 'If-Match': '"1"' });
  assert.equal(b.status, 412);
  assert.equal(etag(b), '"2"');
  assert.equal(b.json.errors[0].field, 'If-Match');
  assert.equal(srv.sql(`SELECT version || identity::text || history::text || prevention::text FROM clinical.health_records WHERE patient_id = ${pid}`), stored);
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.health_record_versions WHERE patient_id = ${pid}`), versions);
  // a second "first" record is a conflict too, not a silent overwrite
  const c = await phucloc.put(`/api/v1/patients/${pid}/health-record`, { identity: {} }, { 'If-Match': '"0"' });
  assert.equal(c.status, 412);
  assert.ok(audits(`entity = 'health_record' AND patient_id = ${pid} AND outcome = 'conflict'`) === 2);
});

test('every change is versioned and the versions are readable, newest first', async () => {
  const pid = await newPatient(phucloc);
  let v = 0;
  for (const body of [record, { history: { other_issues: 'Hay ốm vặt' } }, { prevention: { vaccinations: [] } }]) {
    const r = await phucloc.put(`/api/v1/patients/${pid}/health-record`, body, { 'If-Match': `"${v}"` });
    assert.equal(r.status, 200, r.text);
    v++;
  }
  const l = await phucloc.get(`/api/v1/patients/${pid}/health-record/versions`);
  assert.equal(l.status, 200);
  assert.equal(l.json.total, 3);
  assert.deepEqual(l.json.items.map((i) => i.version), [3, 2, 1]);
  assert.deepEqual(l.json.items.map((i) => i.changed_sections), [['prevention'], ['history'], ['identity', 'history', 'prevention']]);
  assert.deepEqual(l.json.items[2].prevention, record.prevention); // version 1 as it was
  assert.deepEqual(l.json.items[0].prevention, { vaccinations: [] });
  assert.deepEqual(l.json.items[1].history, { other_issues: 'Hay ốm vặt' });
  assert.match(l.json.items[0].saved_by_name, /Phúc Lộc/);
  const page = await phucloc.get(`/api/v1/patients/${pid}/health-record/versions?limit=1&offset=2`);
  assert.deepEqual(page.json.items.map((i) => i.version), [1]);
  assert.throws(() => srv.sql(`DELETE FROM clinical.health_record_versions WHERE patient_id = ${pid}`), /append-only/);
  assert.ok(audits(`entity = 'health_record_versions' AND patient_id = ${pid} AND action = 'read'`) === 2);
});

test('the structure of each section is checked and the field at fault named', async () => {
  const pid = await newPatient(phucloc);
  const cases = [
    [{ identity: { blood_group_abo: 'C' } }, 'identity.blood_group_abo'],
    [{ identity: { favourite_colour: 'red' } }, 'identity.favourite_colour'],
    [{ identity: [] }, 'identity'],
    [{ history: { allergies: [{ type: 'drug' }] } }, 'history.allergies[0].agent'],
    [{ history: { allergies: { type: 'drug', agent: 'x' } } }, 'history.allergies'],
    [{ history: { birth: { weight_g: 12000 } } }, 'history.birth.weight_g'],
    [{ history: { diseases: [{ icd10: 'X99.9', name: 'Không có' }] } }, 'history.diseases[0].icd10'],
    [{ history: { diseases: [{ icd10: 'viem', name: 'x' }] } }, 'history.diseases[0].icd10'],
    [{ prevention: { vaccinations: [{ vaccine: 'BCG', date: '2024-02-30' }] } }, 'prevention.vaccinations[0].date'],
    [{ prevention: { vaccinations: [{ vaccine: 'BCG', date: '2024-03-01' }, { date: '2024-03-01' }] } }, 'prevention.vaccinations[1].vaccine'],
    [{ prevention: { vaccinations: Array.from({ length: 201 }, () => ({ vaccine: 'OPV', date: '2024' })) } }, 'prevention.vaccinations'],
    [{ prevention: { chronic_diseases: [{ name: 'THA', follow_ups: [{ date: '2025-01-01', systolic: 400 }] }] } }, 'prevention.chronic_diseases[0].follow_ups[0].systolic'],
    [{ examinations: [] , sections: 1 }, 'sections'],
  ];
  for (const [body, field] of cases) {
    const r = await phucloc.put(`/api/v1/patients/${pid}/health-record`, body, { 'If-Match': '"0"' });
    assert.equal(r.status, 422, `${field}: ${r.text}`);
    assert.ok(r.json.errors.some((e) => e.field === field), `${field} in ${r.text}`);
  }
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.health_records WHERE patient_id = ${pid}`), '0');
  // year-only and year-month dates are accepted for history
  const ok = await phucloc.put(`/api/v1/patients/${pid}/health-record`, {
    history: { diseases: [{ icd10: 'j18.9', name: 'Viêm phổi', since: '2025' }] },
    prevention: { chronic_diseases: [{ icd10: 'I10', name: 'Tăng huyết áp', diagnosed_on: '2025-06', follow_ups: [{ date: '2025-09-01', systolic: 150, diastolic: 95 }] }] },
  }, { 'If-Match': '"0"' });
  assert.equal(ok.status, 200, ok.text);
});

test('section 4 lists the patient\'s visits, linked not copied', async () => {
  const pid = await newPatient(doctor);
  const v = await doctor.post('/api/v1/visits', { patient_id: pid, kind: 'outpatient' });
  assert.equal(v.status, 201);
  await doctor.patch(`/api/v1/visits/${v.json.id}`, { vitals: { pulse: 110, temperature: 38.2 }, diagnoses: [{ icd10: 'J06.9', primary: true }] }, { 'If-Match': '"1"' });
  const g = await doctor.get(`/api/v1/patients/${pid}/health-record`);
  assert.equal(g.json.examinations.total, 1);
  const e = g.json.examinations.items[0];
  assert.equal(e.visit_id, v.json.id);
  assert.equal(e.ma_lk, v.json.ma_lk);
  assert.equal(e.href, `/api/v1/visits/${v.json.id}`);
  assert.equal(e.vitals.pulse, 110);
  assert.deepEqual(e.diagnoses.map((d) => d.icd10), ['J06.9']);
  assert.ok(!('examinations' in JSON.parse(srv.sql(`SELECT to_jsonb(r) FROM clinical.health_records r WHERE patient_id = ${pid}`) || '{}')));
});

test('another station or facility cannot read or change the record (404); roles are enforced; access is audited', async () => {
  const pid = await newPatient(phucloc);
  await phucloc.put(`/api/v1/patients/${pid}/health-record`, record, { 'If-Match': '"0"' });
  for (const c of [babe, other, doctor]) {
    assert.equal((await c.get(`/api/v1/patients/${pid}/health-record`)).status, 404);
    assert.equal((await c.put(`/api/v1/patients/${pid}/health-record`, { identity: {} }, { 'If-Match': '"1"' })).status, 404);
    assert.equal((await c.get(`/api/v1/patients/${pid}/health-record/versions`)).status, 404);
  }
  assert.equal(srv.sql(`SELECT version FROM clinical.health_records WHERE patient_id = ${pid}`), '1');
  const babeId = srv.sql(`SELECT id FROM core.users WHERE username = 'yt.babe'`);
  assert.ok(audits(`user_id = ${babeId} AND entity = 'health_record' AND patient_id = ${pid} AND outcome = 'not_found'`) >= 2);
  const pharm = await srv.login('ds.lan');
  assert.equal((await pharm.get(`/api/v1/patients/${pid}/health-record`)).status, 403);
  // the nurse and doctor of the patient's own facility may
  const dpid = await newPatient(doctor);
  const nurse = await srv.login('dd.hoa');
  assert.equal((await nurse.put(`/api/v1/patients/${dpid}/health-record`, { history: { other_issues: 'Ghi chú' } }, { 'If-Match': '"0"' })).status, 200);
});

test('the demo seed gives the commune stations\' patients health records', async () => {
  assert.ok(Number(srv.sql(`SELECT count(*) FROM clinical.health_records r JOIN core.facilities f ON f.id = r.facility_id WHERE f.level = 'commune_station'`)) > 50);
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.health_records r WHERE NOT EXISTS (SELECT 1 FROM clinical.health_record_versions v WHERE v.patient_id = r.patient_id AND v.version = r.version)`), '0');
  const pid = srv.sql(`SELECT r.patient_id FROM clinical.health_records r JOIN core.facilities f ON f.id = r.facility_id WHERE f.code = '19101' AND jsonb_array_length(r.prevention->'vaccinations') > 0 LIMIT 1`);
  const g = await phucloc.get(`/api/v1/patients/${pid}/health-record`);
  assert.equal(g.status, 200);
  assert.ok(g.json.prevention.vaccinations.length > 0);
  // what the seed stored passes the same checks as the API
  const back = await phucloc.put(`/api/v1/patients/${pid}/health-record`, g.json, { 'If-Match': etag(g) });
  assert.equal(back.status, 200, back.text);
});
