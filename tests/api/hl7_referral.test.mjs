// Issue 3 point 9: two hospitals, two servers, two databases, HL7 over MLLP on
// loopback. The district (19010, bs.an) refers a patient to the province
// (19001, bs.tinh): REF^I12 arrives with the same identity and the letter's
// fields; the province answers (RRI^I12) and sends results (ORU^R01), which
// appear at the district. Then the province is stopped: the district's next
// referral stays queued in its outbox and arrives exactly once after the
// province is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from '../lib/server.mjs';

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function until(what, fn, ms = 30000, step = 150) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, step));
  }
}

// Fast retries so that the restart part does not wait a minute.
const ENV = { HIS_OUTBOX_BACKOFF_MAX_MS: '1000', HIS_HL7_ACK_TIMEOUT_MS: '3000' };
let district, province, dPort, pPort, bsAn, bsTinh;

async function startProvince(db = null) {
  return startServer({ db, env: ENV, args: ['--hl7-listen', `127.0.0.1:${pPort}`] });
}

async function peer(server, code, port) {
  const admin = await server.login('admin');
  const r = await admin.put('/api/v1/hl7/peers', { code, host: '127.0.0.1', port });
  assert.equal(r.status, 200, r.text);
}

async function referPatient(p) {
  const pr = await bsAn.post('/api/v1/patients', p);
  assert.equal(pr.status, 201, pr.text);
  const vr = await bsAn.post('/api/v1/visits', { patient_id: pr.json.id, kind: 'inpatient', reason: 'Sốt cao, khó thở' });
  assert.equal(vr.status, 201, vr.text);
  return { patient: pr.json, visit: vr.json };
}

const LETTER = {
  to_facility: '19001',
  reason: 'Viêm phổi nặng, vượt khả năng điều trị của tuyến huyện',
  reason_code: 2,
  diagnosis: 'J18.9',
  clinical_signs: 'Sốt 39,5°C, SpO2 89%, ran nổ hai đáy phổi',
  treatment_given: 'Ceftriaxone 2 g tĩnh mạch, thở oxy 4 lít/phút',
  transport: 'Xe cứu thương của Trung tâm Y tế, có điều dưỡng đi kèm',
  doctor: 'BS. Nguyễn Văn An',
};

before(async () => {
  [dPort, pPort] = [await freePort(), await freePort()];
  district = await startServer({ env: ENV, args: ['--hl7-listen', `127.0.0.1:${dPort}`] });
  province = await startProvince();
  await peer(district, '19001', pPort);
  await peer(province, '19010', dPort);
  bsAn = await district.login('bs.an');
  bsTinh = await province.login('bs.tinh');
});

after(async () => {
  if (process.env.HL7_DEBUG) console.log(district?.stderr(), province?.stderr());
  await district?.stop();
  await province?.stop();
});

test('a referral goes to the province with the same identity and letter; answer and results come back', async () => {
  const { patient, visit } = await referPatient({
    full_name: 'Triệu Thị Thanh Hương', birth_date: '1978-11-23', sex: 'female', cccd: '019178345678',
    phone: '0971234567', ethnicity: '07',
    address: { province_code: '19', commune_code: '05935', village: 'Xóm Cầu Ca', line: 'Số 5' },
    insurance_card: { number: 'HT3191122334455', valid_from: '2026-01-01', valid_to: '2026-12-31', primary_facility: '19010' },
  });
  const rr = await bsAn.post('/api/v1/referrals', { visit_id: visit.id, ...LETTER });
  assert.equal(rr.status, 201, rr.text);
  const ref = rr.json;
  assert.equal(ref.direction, 'out');
  assert.match(ref.code, /^19010-\d{4}-\d{6}$/);

  // The district's outbox acknowledges it (AA from the province).
  await until('REF acknowledged', async () => {
    const r = await bsAn.get('/api/v1/referrals/' + ref.id);
    return r.json.message?.state === 'acknowledged';
  });

  // At the province: an incoming referral with the same person and letter.
  const incoming = await until('referral at the province', async () => {
    const r = await bsTinh.get('/api/v1/referrals?direction=in');
    return r.json.items.find((x) => x.code === ref.code);
  });
  assert.equal(incoming.from_facility, '19010');
  assert.equal(incoming.to_facility, '19001');
  assert.equal(incoming.state, 'received');
  assert.equal(incoming.reason, LETTER.reason);
  assert.equal(incoming.reason_code, 2);
  assert.equal(incoming.diagnosis_icd10, 'J18.9');
  assert.equal(incoming.clinical_signs, LETTER.clinical_signs);
  assert.equal(incoming.treatment_given, LETTER.treatment_given);
  assert.equal(incoming.transport, LETTER.transport);
  assert.equal(incoming.doctor, LETTER.doctor);
  const pp = incoming.patient;
  assert.equal(pp.full_name, patient.full_name);
  assert.equal(pp.birth_date, patient.birth_date);
  assert.equal(pp.sex, 'female');
  assert.equal(pp.cccd, patient.cccd);
  assert.deepEqual(pp.insurance_card, patient.insurance_card);
  // The province's own patient record, found by CCCD there.
  const found = await bsTinh.get('/api/v1/patients?q=' + patient.cccd);
  assert.equal(found.json.items.length, 1);
  assert.equal(found.json.items[0].phone, '0971234567');
  // District staff of another facility's server cannot see it: the province
  // stores it under 19001 only.
  assert.equal(province.sql(`SELECT count(*) FROM clinical.referrals r JOIN core.facilities f ON f.id = r.facility_id WHERE r.code = '${ref.code}' AND f.code = '19001'`), '1');

  // The province accepts and sends two results.
  const ans = await bsTinh.post(`/api/v1/referrals/${incoming.id}/answer`, { accepted: true, note: 'Đã tiếp nhận vào khoa Hô hấp' });
  assert.equal(ans.status, 200, ans.text);
  const res = await bsTinh.post(`/api/v1/referrals/${incoming.id}/results`, {
    results: [
      { code: 'WBC', name: 'Bạch cầu', value_type: 'NM', value: '15.2', unit: 'G/L', reference_range: '4-10', flag: 'H' },
      { code: 'XQ-PHOI', name: 'X-quang ngực thẳng', value_type: 'TX', value: 'Đám mờ thùy dưới phổi phải' },
    ],
  });
  assert.equal(res.status, 201, res.text);

  // Both arrive at the district.
  const back = await until('answer and results at the district', async () => {
    const r = await bsAn.get('/api/v1/referrals/' + ref.id);
    return r.json.state === 'accepted' && r.json.results.length === 2 ? r.json : null;
  });
  assert.equal(back.answer_note, 'Đã tiếp nhận vào khoa Hô hấp');
  assert.equal(back.answered_by, 'BS. Lê Quang Tỉnh');
  assert.deepEqual(back.results.map((x) => [x.code, x.value, x.unit, x.flag]),
    [['WBC', '15.2', 'G/L', 'H'], ['XQ-PHOI', 'Đám mờ thùy dưới phổi phải', null, null]]);
  // And the province shows its answer delivered.
  await until('RRI acknowledged', async () => {
    const r = await bsTinh.get(`/api/v1/referrals/${incoming.id}`);
    return r.json.message?.state === 'acknowledged';
  });
  // The messages API on both sides.
  const outD = await bsAn.get('/api/v1/hl7/messages?direction=out&state=acknowledged');
  assert.ok(outD.json.items.some((m) => m.type === 'REF^I12' && m.peer === '19001'));
  const inD = await bsAn.get('/api/v1/hl7/messages?direction=in&state=processed');
  assert.deepEqual(inD.json.items.map((m) => m.type).sort(), ['ORU^R01', 'RRI^I12']);
});

test('nothing is lost when the province is down: queued at the district, delivered once after restart', async () => {
  await province.stop();
  const { patient, visit } = await referPatient({
    full_name: 'Nông Văn Khải', birth_date: '1962-04-02', sex: 'male', cccd: '019062778899',
    insurance_card: { number: 'HT2191199887766', valid_from: '2026-01-01', valid_to: '2026-12-31', primary_facility: '19010' },
  });
  const rr = await bsAn.post('/api/v1/referrals', { visit_id: visit.id, ...LETTER, reason: 'Nhồi máu cơ tim cấp', diagnosis: 'I10' });
  assert.equal(rr.status, 201, rr.text);
  const ref = rr.json;
  // Attempts fail while the province is away; the message stays queued.
  await until('a failed attempt', async () => {
    const r = await bsAn.get('/api/v1/hl7/messages?direction=out&control_id=' + ref.hl7_control_id);
    const m = r.json.items[0];
    return m && m.attempts >= 2 && m.state === 'queued' && m.error;
  });
  // The province comes back on the same database and port.
  province = await startProvince(province.db);
  bsTinh = await province.login('bs.tinh');
  await until('delivered after restart', async () => {
    const r = await bsAn.get('/api/v1/referrals/' + ref.id);
    return r.json.message?.state === 'acknowledged';
  });
  const incoming = await until('referral at the province', async () => {
    const r = await bsTinh.get('/api/v1/referrals?direction=in');
    return r.json.items.find((x) => x.code === ref.code);
  });
  assert.equal(incoming.patient.cccd, patient.cccd);
  assert.equal(incoming.patient.full_name, 'Nông Văn Khải');
  // Exactly once: one message row, one referral, one patient.
  assert.equal(province.sql(`SELECT count(*) FROM hl7.messages WHERE control_id = '${ref.hl7_control_id}'`), '1');
  assert.equal(province.sql(`SELECT count(*) FROM clinical.referrals WHERE code = '${ref.code}'`), '1');
  assert.equal(province.sql(`SELECT count(*) FROM clinical.patients WHERE cccd = '${patient.cccd}'`), '1');
  // The answer now flows back the other way as well.
  const ans = await bsTinh.post(`/api/v1/referrals/${incoming.id}/answer`, { accepted: false, note: 'Chuyển Bệnh viện Tim Hà Nội' });
  assert.equal(ans.status, 200, ans.text);
  await until('rejection at the district', async () => (await bsAn.get('/api/v1/referrals/' + ref.id)).json.state === 'rejected');
});

test('a peer subscribed to adt gets registrations and admissions (ADT^A04, A01) from the triggers', async () => {
  const admin = await district.login('admin');
  const r = await admin.put('/api/v1/hl7/peers', { code: '19001', host: '127.0.0.1', port: pPort, events: ['adt'] });
  assert.equal(r.status, 200, r.text);
  const { patient } = await referPatient({
    full_name: 'Hà Thị Ngọc Ánh', birth_date: '1995-08-30', sex: 'female', cccd: '019195246810', phone: '0369876543',
  });
  const there = await until('A04 and A01 at the province', async () => {
    const t = await bsTinh.get('/api/v1/hl7/messages?direction=in&state=processed');
    const types = t.json.items.filter((m) => m.raw?.includes('019195246810')).map((m) => m.type).sort();
    return types.length === 2 ? types : null;
  });
  assert.deepEqual(there, ['ADT^A01', 'ADT^A04']);
  const p = await bsTinh.get('/api/v1/patients?q=019195246810');
  assert.equal(p.json.items[0].full_name, patient.full_name);
  assert.equal(p.json.items[0].birth_date, '1995-08-30');
  // The province does not echo what it received back to the district.
  assert.equal(province.sql(`SELECT count(*) FROM core.outbox WHERE kind LIKE 'ADT%'`), '0');
});
