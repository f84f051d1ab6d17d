// Patients (issue 4 point 1): registration, search without diacritics and by
// CCCD/card/phone, validation naming the field, year-only births, duplicates
// and merge, If-Match, facility scope (handlers and RLS alone), audit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';

let srv, doctor, phucloc, babe;

before(async () => {
  srv = await startServer();
  doctor = await srv.login('bs.an');
  phucloc = await srv.login('yt.phucloc');
  babe = await srv.login('yt.babe');
});
after(async () => { await srv?.stop(); });

const facilityId = (code) => srv.sql(`SELECT id FROM core.facilities WHERE code = '${code}'`);
const audits = (where) => Number(srv.sql(`SELECT count(*) FROM audit.events WHERE ${where}`));

function person(extra = {}) {
  return { full_name: 'Đặng Thị Ngọc Ửng', birth_date: '1990-05-17', sex: 'female', ...extra };
}

test('year-only birth date round-trips as "YYYY" and the shape is the documented one', async () => {
  const r = await doctor.post('/api/v1/patients', { full_name: 'Lục Văn Cổ', birth_date: '1941', sex: 'male' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.birth_date, '1941');
  const g = await doctor.get(`/api/v1/patients/${r.json.id}`);
  assert.equal(g.status, 200);
  assert.equal(g.json.birth_date, '1941');
  assert.equal(g.headers.get('etag'), '"1"');
  for (const k of ['id', 'full_name', 'birth_date', 'sex', 'cccd', 'phone', 'ethnicity', 'address', 'insurance_card'])
    assert.ok(k in g.json, k);
  assert.deepEqual(Object.keys(g.json.address).sort(), ['commune_code', 'line', 'old_district_code', 'province_code', 'village']);
  assert.equal(g.json.insurance_card, null);
  assert.equal(srv.sql(`SELECT birth_date IS NULL AND birth_year = 1941 FROM clinical.patients WHERE id = ${r.json.id}`), 't');
});

test('name search ignores diacritics and case', async () => {
  const r = await doctor.post('/api/v1/patients', person({ full_name: 'Đặng Thị Ngọc Ửng', cccd: null }));
  assert.equal(r.status, 201, r.text);
  for (const q of ['dang thi ngoc ung', 'ĐẶNG THỊ NGỌC ỬNG', 'Ngoc Ung', 'DANG THI']) {
    const s = await doctor.get('/api/v1/patients?q=' + encodeURIComponent(q));
    assert.equal(s.status, 200);
    assert.ok(s.json.items.some((p) => p.id === r.json.id), `q=${q}`);
    assert.ok(s.json.total >= 1);
  }
  const miss = await doctor.get('/api/v1/patients?q=' + encodeURIComponent('ngoc ang'));
  assert.ok(!miss.json.items.some((p) => p.id === r.json.id));
  // word start: "gu" is inside "nguyen"/"ngoc"-like words, not at a word start
  const mid = await doctor.get('/api/v1/patients?q=goc');
  assert.ok(!mid.json.items.some((p) => p.id === r.json.id));
});

test('search by CCCD, insurance card number and phone', async () => {
  const body = {
    full_name: 'Triệu Văn Khoa', birth_date: '1990-01-02', sex: 'male', cccd: '019090777123', phone: '0987 654 321',
    ethnicity: '09', address: { province_code: '19', commune_code: '05935', village: 'Xóm Bờ La' },
    insurance_card: { number: 'GD4191988877766', valid_from: '2026-01-01', valid_to: '2026-12-31', primary_facility: '19010' },
  };
  const r = await doctor.post('/api/v1/patients', body);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.phone, '0987654321');
  assert.equal(r.json.insurance_card.number, 'GD4191988877766');
  for (const q of ['019090777123', 'GD4191988877766', 'gd4191988877766', '0987654321', '+84 987 654 321']) {
    const s = await doctor.get('/api/v1/patients?q=' + encodeURIComponent(q));
    assert.equal(s.status, 200);
    assert.deepEqual(s.json.items.map((p) => p.id), [r.json.id], `q=${q}`);
    assert.equal(s.json.total, 1);
  }
  // one "search" audit event per search, with the kind and count, never the text
  const n = audits(`action = 'search' AND entity = 'patient' AND detail LIKE 'kind=cccd returned=1%'`);
  assert.ok(n >= 1);
  assert.equal(audits(`detail LIKE '%019090777123%'`), 0);
});

test('CCCD, card, address and dates are validated with the JSON path of the field', async () => {
  const cases = [
    [{ cccd: '019091777123' }, 'cccd'],            // year digits 91, born 1990
    [{ cccd: '019190777123' }, 'cccd'],            // century/sex digit 1 = female, patient is male
    [{ cccd: '099090777123' }, 'cccd'],            // 099 is no province
    [{ cccd: '01909077712' }, 'cccd'],             // 11 digits
    [{ insurance_card: { number: 'ZZ4191988877766' } }, 'insurance_card.number'], // unknown category
    [{ insurance_card: { number: 'GD6191988877766' } }, 'insurance_card.number'], // level 6
    [{ insurance_card: { number: 'GD4031988877766' } }, 'insurance_card.number'], // province 03
    [{ insurance_card: { number: 'GD4191988877766', valid_from: '2026-02-30' } }, 'insurance_card.valid_from'],
    [{ insurance_card: { number: 'GD4191988877766', valid_from: '2026-06-01', valid_to: '2026-01-01' } }, 'insurance_card.valid_to'],
    [{ insurance_card: { number: 'GD4191988877766', primary_facility: '19' } }, 'insurance_card.primary_facility'],
    [{ address: { commune_code: '12' } }, 'address.commune_code'],
    [{ address: { province_code: '03' } }, 'address.province_code'],
    [{ birth_date: '1990-02-30' }, 'birth_date'],
    [{ birth_date: '2999' }, 'birth_date'],
    [{ phone: '12345' }, 'phone'],
    [{ sex: 'x' }, 'sex'],
    [{ ethnicity: '77' }, 'ethnicity'],
    [{ full_name: 'x'.repeat(201) }, 'full_name'],
  ];
  const before = srv.sql('SELECT count(*) FROM clinical.patients');
  for (const [extra, field] of cases) {
    const r = await doctor.post('/api/v1/patients', { full_name: 'Kiểm Tra', birth_date: '1990-01-02', sex: 'male', ...extra });
    assert.equal(r.status, 422, `${JSON.stringify(extra)}: ${r.text}`);
    assert.match(r.headers.get('content-type'), /problem\+json/);
    assert.ok(r.json.errors.some((e) => e.field === field), `${JSON.stringify(extra)} -> ${JSON.stringify(r.json.errors)}`);
  }
  assert.equal(srv.sql('SELECT count(*) FROM clinical.patients'), before);
});

test('a duplicate is flagged at registration, then merged with an audit row', async () => {
  const a = await doctor.post('/api/v1/patients', person({ full_name: 'Bế Văn Trùng', birth_date: '1970-03-04', sex: 'male', cccd: '019070555001' }));
  assert.equal(a.status, 201, a.text);
  // Same CCCD, other spelling: flagged
  const dup = await doctor.post('/api/v1/patients', person({ full_name: 'Be Van Trung', birth_date: '1970', sex: 'male', cccd: '019070555001' }));
  assert.equal(dup.status, 409, dup.text);
  assert.ok(dup.json.candidate_ids.includes(a.json.id));
  assert.equal(dup.json.candidates[0].reason, 'cccd');
  // Same name and full birth date: flagged too
  const dup2 = await doctor.post('/api/v1/patients', person({ full_name: 'Bế  văn TRÙNG', birth_date: '1970-03-04', sex: 'male' }));
  assert.equal(dup2.status, 409);
  // Registered anyway on purpose
  const b = await doctor.post('/api/v1/patients', person({ full_name: 'Bế Văn Trùng', birth_date: '1970-03-04', sex: 'male', phone: '0912000111', confirm_new: true }));
  assert.equal(b.status, 201, b.text);
  const m = await doctor.post(`/api/v1/patients/${b.json.id}/merge`, { into: a.json.id });
  assert.equal(m.status, 200, m.text);
  assert.equal(m.json.id, a.json.id);
  assert.equal(m.json.phone, '0912000111'); // the survivor took what it lacked
  const g = await doctor.get(`/api/v1/patients/${b.json.id}`);
  assert.equal(g.json.merged_into, a.json.id);
  assert.equal(audits(`action = 'merge' AND entity = 'patient' AND entity_id = '${b.json.id}' AND patient_id = ${b.json.id} AND outcome = 'ok'`), 1);
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.patient_merges WHERE from_patient_id = ${b.json.id} AND into_patient_id = ${a.json.id}`), '1');
  // merged records leave the search; a second merge is refused
  const s = await doctor.get('/api/v1/patients?q=0912000111');
  assert.deepEqual(s.json.items.map((p) => p.id), [a.json.id]);
  const again = await doctor.post(`/api/v1/patients/${b.json.id}/merge`, { into: a.json.id });
  assert.equal(again.status, 409);
});

test('a merge brings the merged patient\'s visits, prescriptions and health record to the survivor', async () => {
  const mk = async (name, extra = {}) => {
    const r = await doctor.post('/api/v1/patients', { full_name: name, birth_date: '2023-06-01', sex: 'female', confirm_new: true, ...extra });
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  };
  const hr = (pid, body, v) => doctor.put(`/api/v1/patients/${pid}/health-record`, body, { 'If-Match': `"${v}"` });
  // Survivor with a record; duplicate with another record that overlaps it.
  const keep = await mk('Đinh Thị Gộp');
  const dup = await mk('Dinh Thi Gop');
  assert.equal((await hr(keep, {
    identity: { blood_group_abo: 'O' },
    history: { allergies: [{ type: 'food', agent: 'Tôm', reaction: 'Nổi mẩn' }] },
    prevention: { vaccinations: [{ vaccine: 'BCG', dose: 1, date: '2023-06-02' }] },
  }, 0)).status, 200);
  assert.equal((await hr(dup, {
    identity: { blood_group_abo: 'A', mother_name: 'Đinh Thị Mẹ' },
    history: { allergies: [{ type: 'food', agent: 'Tôm', reaction: 'Nổi mẩn' }, { type: 'drug', agent: 'Penicillin', reaction: 'Sốc' }] },
    prevention: { vaccinations: [{ vaccine: 'Viêm gan B sơ sinh', dose: 1, date: '2023-06-01' }], screenings: [{ type: 'Sàng lọc sơ sinh', date: '2023-06', result: 'Bình thường' }] },
  }, 0)).status, 200);
  const visit = await doctor.post('/api/v1/visits', { patient_id: dup, kind: 'outpatient' });
  assert.equal(visit.status, 201, visit.text);
  srv.sql(`INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary) SELECT id, facility_id, 0, 'J06.9', true FROM clinical.visits WHERE id = ${visit.json.id}`);
  const rx = await doctor.post(`/api/v1/visits/${visit.json.id}/prescriptions`, {
    type: 'C', items: [{ drug_code: 'T0001', quantity: 15, unit: 'viên', dosage: 'Uống 1 viên x 3 lần/ngày', days: 5 }] });
  assert.equal(rx.status, 201, rx.text);
  const m = await doctor.post(`/api/v1/patients/${dup}/merge`, { into: keep });
  assert.equal(m.status, 200, m.text);
  const rec = (await doctor.get(`/api/v1/patients/${keep}/health-record`)).json;
  assert.equal(rec.version, 2, 'the merge is a new version of the survivor\'s record');
  assert.equal(rec.identity.blood_group_abo, 'O', 'the survivor\'s own value is kept');
  assert.equal(rec.identity.mother_name, 'Đinh Thị Mẹ', 'what the survivor lacked is taken');
  assert.deepEqual(rec.history.allergies.map((a) => a.agent), ['Tôm', 'Penicillin'], 'lists are joined without duplicates');
  assert.deepEqual(rec.prevention.vaccinations.map((v) => v.vaccine), ['BCG', 'Viêm gan B sơ sinh']);
  assert.equal(rec.prevention.screenings.length, 1);
  assert.equal(srv.sql(`SELECT changed_sections::text FROM clinical.health_record_versions WHERE patient_id = ${keep} AND version = 2`), '{identity,history,prevention}');
  // the merged patient's own record is untouched and still readable
  const old = (await doctor.get(`/api/v1/patients/${dup}/health-record`)).json;
  assert.equal(old.version, 1);
  assert.equal(old.identity.blood_group_abo, 'A');
  assert.equal(srv.sql(`SELECT patient_id FROM clinical.visits WHERE id = ${visit.json.id}`), String(keep));
  assert.equal(srv.sql(`SELECT patient_id FROM pharmacy.prescriptions WHERE id = ${rx.json.id}`), String(keep));
  assert.match(srv.sql(`SELECT moved FROM clinical.patient_merges WHERE from_patient_id = ${dup}`), /clinical\.visits:1.*health_record:merged/);

  // A survivor without a record gets a copy of the merged one's.
  const keep2 = await mk('Đinh Thị Hai');
  const dup2 = await mk('Dinh Thi Hai');
  assert.equal((await hr(dup2, { prevention: { vaccinations: [{ vaccine: 'BCG', dose: 1, date: '2023-06-03' }] } }, 0)).status, 200);
  assert.equal((await doctor.post(`/api/v1/patients/${dup2}/merge`, { into: keep2 })).status, 200);
  const rec2 = (await doctor.get(`/api/v1/patients/${keep2}/health-record`)).json;
  assert.equal(rec2.version, 1);
  assert.deepEqual(rec2.prevention.vaccinations.map((v) => v.vaccine), ['BCG']);
  assert.match(srv.sql(`SELECT moved FROM clinical.patient_merges WHERE from_patient_id = ${dup2}`), /health_record:copied/);
});

test('PATCH needs If-Match; a stale one gets 412 and the stored row is unchanged', async () => {
  const c = await doctor.post('/api/v1/patients', { full_name: 'Ma Thị Sửa', birth_date: '1980-07-07', sex: 'female' });
  const id = c.json.id;
  const none = await doctor.patch(`/api/v1/patients/${id}`, { occupation: 'Nông dân' });
  assert.equal(none.status, 428);
  const ok = await doctor.patch(`/api/v1/patients/${id}`, { occupation: 'Nông dân', address: { village: 'Bản Cám' } }, { 'If-Match': '"1"' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.headers.get('etag'), '"2"');
  assert.equal(ok.json.address.village, 'Bản Cám');
  assert.equal(ok.json.full_name, 'Ma Thị Sửa'); // untouched fields kept
  const row = () => srv.sql(`SELECT full_name || '|' || coalesce(occupation,'') || '|' || version FROM clinical.patients WHERE id = ${id}`);
  const stored = row();
  const stale = await doctor.patch(`/api/v1/patients/${id}`, { full_name: 'Ghi Đè' }, { 'If-Match': '"1"' });
  assert.equal(stale.status, 412);
  assert.equal(stale.headers.get('etag'), '"2"');
  assert.equal(row(), stored);
  const bad = await doctor.patch(`/api/v1/patients/${id}`, { cccd: '123' }, { 'If-Match': '"2"' });
  assert.equal(bad.status, 422);
  assert.equal(bad.json.errors[0].field, 'cccd');
  assert.equal(row(), stored);
  assert.ok(audits(`action = 'update' AND entity_id = '${id}' AND outcome = 'ok'`) === 1);
});

test('Idempotency-Key: the same key and body register one patient', async () => {
  const h = { 'Idempotency-Key': 'pt-idem-1' };
  const body = { full_name: 'Lý Thị Một Lần', birth_date: '2001-01-01', sex: 'female' };
  const a = await doctor.post('/api/v1/patients', body, h);
  const b = await doctor.post('/api/v1/patients', body, h);
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  assert.equal(a.json.id, b.json.id);
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.patients WHERE full_name = 'Lý Thị Một Lần'`), '1');
});

test('limits: list limit and offset caps, query length', async () => {
  assert.equal((await doctor.get('/api/v1/patients?limit=500')).status, 422);
  assert.equal((await doctor.get('/api/v1/patients?offset=-1')).status, 422);
  assert.equal((await doctor.get('/api/v1/patients?q=' + 'a'.repeat(101))).status, 422);
  const l = await doctor.get('/api/v1/patients?limit=5');
  assert.equal(l.status, 200);
  assert.ok(l.json.items.length <= 5);
  assert.ok(l.json.total >= l.json.items.length);
});

test('a commune worker of 19101 cannot reach a patient of 19102 through any endpoint', async () => {
  const p = await babe.post('/api/v1/patients', { full_name: 'Nông Văn Bể', birth_date: '1975-02-02', sex: 'male', cccd: '019075000999' });
  assert.equal(p.status, 201, p.text);
  const id = p.json.id;
  const snapshot = () => srv.sql(`SELECT row_to_json(p)::text FROM clinical.patients p WHERE id = ${id}`);
  const before = snapshot();
  assert.equal((await phucloc.get(`/api/v1/patients/${id}`)).status, 404);
  assert.equal((await phucloc.patch(`/api/v1/patients/${id}`, { full_name: 'X' }, { 'If-Match': '"1"' })).status, 404);
  const mine = await phucloc.post('/api/v1/patients', { full_name: 'Người Phúc Lộc', birth_date: '1999', sex: 'female' });
  assert.equal((await phucloc.post(`/api/v1/patients/${id}/merge`, { into: mine.json.id })).status, 404);
  assert.equal((await phucloc.post(`/api/v1/patients/${mine.json.id}/merge`, { into: id })).status, 404);
  for (const q of ['019075000999', 'nong van be']) {
    const s = await phucloc.get('/api/v1/patients?q=' + encodeURIComponent(q));
    assert.equal(s.status, 200);
    assert.ok(!s.json.items.some((x) => x.id === id), q);
  }
  assert.equal(snapshot(), before);
  assert.equal(srv.sql(`SELECT merged_into IS NULL FROM clinical.patients WHERE id = ${mine.json.id}`), 't');
  // the refused read is audited as not_found
  assert.ok(audits(`action = 'read' AND entity_id = '${id}' AND outcome = 'not_found'`) >= 1);
});

test('row-level security alone hides another facility\'s patients', () => {
  const babeId = facilityId('19102');
  const plId = facilityId('19101');
  const id = srv.sql(`SELECT min(id) FROM clinical.patients WHERE facility_id = ${babeId}`);
  assert.ok(Number(id) > 0);
  const asApp = (fid, q) => srv.sql(`BEGIN; SET LOCAL ROLE his_app; SET LOCAL his.facility_id = '${fid}'; ${q}; COMMIT;`);
  // No WHERE on facility: the policy alone decides.
  assert.equal(asApp(plId, `SELECT count(*) FROM clinical.patients WHERE id = ${id}`), '0');
  assert.equal(asApp(plId, `SELECT count(*) FROM clinical.patients WHERE facility_id = ${babeId}`), '0');
  assert.equal(asApp(babeId, `SELECT count(*) FROM clinical.patients WHERE id = ${id}`), '1');
  // Writes are refused too: an UPDATE sees no row, an INSERT into another facility fails the check.
  assert.equal(asApp(plId, `WITH u AS (UPDATE clinical.patients SET full_name = 'X' WHERE id = ${id} RETURNING 1) SELECT count(*) FROM u`), '0');
  assert.throws(() => asApp(plId, `INSERT INTO clinical.patients (facility_id, full_name, name_fold, birth_year) VALUES (${babeId}, 'X', 'x', 1990)`));
});

test('every read and write of a patient is audited in audit.events', async () => {
  const c = await doctor.post('/api/v1/patients', { full_name: 'Hà Văn Kiểm Toán', birth_date: '1966', sex: 'male' });
  const id = c.json.id;
  await doctor.get(`/api/v1/patients/${id}`);
  await doctor.patch(`/api/v1/patients/${id}`, { phone: '0911222333' }, { 'If-Match': '"1"' });
  await doctor.get('/api/v1/patients?q=ha%20van%20kiem');
  const rows = srv.sql(`SELECT action || ':' || outcome FROM audit.events WHERE entity = 'patient' AND patient_id = ${id} ORDER BY id`).split('\n');
  assert.deepEqual(rows.slice(0, 3), ['create:ok', 'read:ok', 'update:ok']);
  assert.ok(rows.includes('search:ok')); // a search returning exactly one patient names it
  assert.equal(srv.sql(`SELECT username FROM audit.events WHERE entity = 'patient' AND patient_id = ${id} AND action = 'create'`), 'bs.an');
});

test('admin-unit and ethnicity look-ups', async () => {
  const a = await doctor.get('/api/v1/admin-units?q=ba%20be');
  assert.equal(a.status, 200);
  assert.ok(a.json.items.some((u) => u.code === '01906' && u.level === 'commune'));
  assert.ok(a.json.items.some((u) => u.level === 'district_old' && u.valid_to));
  const e = await doctor.get('/api/v1/ethnicities');
  assert.equal(e.json.total, 54);
  assert.deepEqual(e.json.items[0], { code: '01', name: 'Kinh' });
});
