// Households at commune stations (issue 4 point 4): create with members, add,
// move between households, PATCH with If-Match, a commune worker confined to
// their own commune (handlers and RLS alone), audit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';

let srv, phucloc, babe, doctor;

before(async () => {
  srv = await startServer();
  phucloc = await srv.login('yt.phucloc');
  babe = await srv.login('yt.babe');
  doctor = await srv.login('bs.an');
});
after(async () => { await srv?.stop(); });

const audits = (where) => Number(srv.sql(`SELECT count(*) FROM audit.events WHERE ${where}`));

async function household(client, code, members = []) {
  const r = await client.post('/api/v1/households', { code, village: 'Thôn Nà Hỏi', address: 'Thôn Nà Hỏi, xã Phúc Lộc', members });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

test('demo data: households with members at both demo stations', () => {
  for (const code of ['19101', '19102']) {
    const n = srv.sql(`SELECT count(*) FROM clinical.households h JOIN core.facilities f ON f.id = h.facility_id WHERE f.code = '${code}'`);
    assert.ok(Number(n) >= 20, `${code}: ${n}`);
  }
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.households WHERE head_patient_id IS NULL`), '0');
});

test('create a household with two members, add one, move one to another household', async () => {
  const h = await household(phucloc, 'PL-TEST-1', [
    { relationship: 'head', patient: { full_name: 'Hoàng Văn Chủ', birth_date: '1970-01-01', sex: 'male' } },
    { relationship: 'spouse', patient: { full_name: 'Nông Thị Vợ', birth_date: '1972', sex: 'female' } },
  ]);
  assert.equal(h.commune_code, '01894'); // the worker's commune by default
  assert.equal(h.members.length, 2);
  const head = h.members.find((m) => m.relationship === 'head');
  assert.equal(h.head_patient_id, head.patient_id);
  for (const k of ['id', 'code', 'commune_code', 'village', 'address', 'head_patient_id', 'members']) assert.ok(k in h, k);
  assert.deepEqual(Object.keys(h.members[0]).filter((k) => k === 'patient_id' || k === 'relationship').sort(), ['patient_id', 'relationship']);

  // add an existing patient as a child
  const kid = await phucloc.post('/api/v1/patients', { full_name: 'Hoàng Văn Con', birth_date: '2005', sex: 'male' });
  const add = await phucloc.post(`/api/v1/households/${h.id}/members`, { patient_id: kid.json.id, relationship: 'child' });
  assert.equal(add.status, 201, add.text);
  assert.equal(add.json.members.length, 3);
  // one active membership per patient
  const twice = await phucloc.post(`/api/v1/households/${h.id}/members`, { patient_id: kid.json.id, relationship: 'child' });
  assert.equal(twice.status, 409);
  const badRel = await phucloc.post(`/api/v1/households/${h.id}/members`, { patient_id: kid.json.id, relationship: 'cousin' });
  assert.equal(badRel.status, 422);
  assert.equal(badRel.json.errors[0].field, 'relationship');

  // the child starts a household of their own
  const h2 = await household(phucloc, 'PL-TEST-2');
  const mv = await phucloc.post(`/api/v1/households/${h.id}/members/${kid.json.id}/move`, { to_household_id: h2.id, relationship: 'other' });
  assert.equal(mv.status, 200, mv.text);
  assert.deepEqual(mv.json.members.map((m) => m.patient_id), [kid.json.id]);
  const g1 = await phucloc.get(`/api/v1/households/${h.id}`);
  assert.equal(g1.status, 200);
  assert.equal(g1.json.members.length, 2);
  assert.ok(!g1.json.members.some((m) => m.patient_id === kid.json.id));
  // the history is kept: the old membership is closed, not deleted
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.household_members WHERE patient_id = ${kid.json.id}`), '2');
  assert.equal(audits(`action = 'move_member' AND patient_id = ${kid.json.id} AND outcome = 'ok'`), 2);

  // list finds it by code and by the head's name without diacritics
  const l = await phucloc.get('/api/v1/households?q=hoang%20van%20chu');
  assert.ok(l.json.items.some((x) => x.id === h.id));
  const l2 = await phucloc.get('/api/v1/households?q=pl-test');
  assert.equal(l2.json.total, 2);
});

test('PATCH household: If-Match required, stale version 412 with nothing changed, head must be a member', async () => {
  const h = await household(phucloc, 'PL-TEST-3', [
    { relationship: 'head', patient: { full_name: 'Lường Văn Đầu', birth_date: '1960', sex: 'male' } },
    { relationship: 'child', patient: { full_name: 'Lường Thị Nối', birth_date: '1990', sex: 'female' } },
  ]);
  const v = h.version;
  assert.equal((await phucloc.patch(`/api/v1/households/${h.id}`, { village: 'Bản Đán' })).status, 428);
  const ok = await phucloc.patch(`/api/v1/households/${h.id}`, { village: 'Bản Đán' }, { 'If-Match': `"${v}"` });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.village, 'Bản Đán');
  const stored = srv.sql(`SELECT village || '|' || version FROM clinical.households WHERE id = ${h.id}`);
  const stale = await phucloc.patch(`/api/v1/households/${h.id}`, { village: 'Ghi đè' }, { 'If-Match': `"${v}"` });
  assert.equal(stale.status, 412);
  assert.equal(srv.sql(`SELECT village || '|' || version FROM clinical.households WHERE id = ${h.id}`), stored);
  // hand the household over to the daughter
  const daughter = h.members.find((m) => m.relationship === 'child').patient_id;
  const hd = await phucloc.patch(`/api/v1/households/${h.id}`, { head_patient_id: daughter }, { 'If-Match': ok.headers.get('etag') });
  assert.equal(hd.status, 200, hd.text);
  assert.equal(hd.json.head_patient_id, daughter);
  assert.equal(hd.json.members.find((m) => m.patient_id === daughter).relationship, 'head');
  const outsider = await phucloc.post('/api/v1/patients', { full_name: 'Người Ngoài', birth_date: '1980', sex: 'male' });
  const bad = await phucloc.patch(`/api/v1/households/${h.id}`, { head_patient_id: outsider.json.id }, { 'If-Match': hd.headers.get('etag') });
  assert.equal(bad.status, 422);
  assert.equal(bad.json.errors[0].field, 'head_patient_id');
});

test('validation names the field; other communes refused at creation', async () => {
  const r = await phucloc.post('/api/v1/households', { commune_code: '01906' });
  assert.equal(r.status, 422);
  assert.equal(r.json.errors[0].field, 'commune_code');
  const m = await phucloc.post('/api/v1/households', { members: [{ relationship: 'head', patient: { full_name: 'A', birth_date: '1990', sex: 'male', cccd: '1' } }] });
  assert.equal(m.status, 422);
  assert.ok(m.json.errors.some((e) => e.field === 'members[0].patient.cccd'), m.text);
  const big = await phucloc.post('/api/v1/households', { members: Array(31).fill({ relationship: 'other', patient_id: 1 }) });
  assert.equal(big.status, 422);
  assert.equal(big.json.errors[0].field, 'members');
});

test('a doctor has no access to households', async () => {
  assert.equal((await doctor.get('/api/v1/households')).status, 403);
});

test('a commune worker of 19101 cannot list, read, add to, move from or modify a household of 19102', async () => {
  const theirs = await household(babe, 'BB-TEST-1', [
    { relationship: 'head', patient: { full_name: 'Ma Văn Bể', birth_date: '1968', sex: 'male' } },
  ]);
  assert.equal(theirs.commune_code, '01906');
  const mine = await household(phucloc, 'PL-TEST-9', [
    { relationship: 'head', patient: { full_name: 'Triệu Văn Lộc', birth_date: '1969', sex: 'male' } },
  ]);
  const myPatient = mine.members[0].patient_id;
  const theirPatient = theirs.members[0].patient_id;
  const state = () => srv.sql(`SELECT string_agg(row_to_json(x)::text, ';' ORDER BY x.id) FROM (
      SELECT h.id, h.code, h.village, h.version, h.head_patient_id, (SELECT string_agg(m.patient_id || ':' || m.relationship || ':' || (m.left_at IS NULL), ',' ORDER BY m.id)
      FROM clinical.household_members m WHERE m.household_id = h.id) AS members FROM clinical.households h WHERE h.id IN (${theirs.id}, ${mine.id})) x`);
  const before = state();

  const l = await phucloc.get('/api/v1/households?limit=200&q=bb-test');
  assert.equal(l.status, 200);
  assert.ok(!l.json.items.some((x) => x.id === theirs.id));
  assert.equal((await phucloc.get(`/api/v1/households/${theirs.id}`)).status, 404);
  assert.equal((await phucloc.post(`/api/v1/households/${theirs.id}/members`, { patient_id: myPatient, relationship: 'other' })).status, 404);
  assert.equal((await phucloc.post(`/api/v1/households/${theirs.id}/members`, { relationship: 'other', patient: { full_name: 'Xâm Nhập', birth_date: '1990', sex: 'male' } })).status, 404);
  // their patient into my household: the patient is invisible
  const cross = await phucloc.post(`/api/v1/households/${mine.id}/members`, { patient_id: theirPatient, relationship: 'other' });
  assert.equal(cross.status, 422);
  assert.equal(cross.json.errors[0].field, 'patient_id');
  assert.equal((await phucloc.patch(`/api/v1/households/${theirs.id}`, { village: 'X' }, { 'If-Match': `"${theirs.version}"` })).status, 404);
  assert.equal((await phucloc.post(`/api/v1/households/${theirs.id}/members/${theirPatient}/move`, { to_household_id: mine.id })).status, 404);
  assert.equal((await phucloc.post(`/api/v1/households/${mine.id}/members/${myPatient}/move`, { to_household_id: theirs.id })).status, 404);
  assert.equal((await phucloc.get(`/api/v1/patients/${theirPatient}`)).status, 404);
  assert.equal(state(), before);
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.patients WHERE full_name = 'Xâm Nhập'`), '0');
  assert.ok(audits(`entity = 'household' AND entity_id = '${theirs.id}' AND outcome = 'not_found' AND username = 'yt.phucloc'`) >= 3);
});

test('row-level security alone hides another station\'s households and members', () => {
  const fid = (code) => srv.sql(`SELECT id FROM core.facilities WHERE code = '${code}'`);
  const pl = fid('19101'), bb = fid('19102');
  const asApp = (f, q) => srv.sql(`BEGIN; SET LOCAL ROLE his_app; SET LOCAL his.facility_id = '${f}'; ${q}; COMMIT;`);
  const total = Number(srv.sql(`SELECT count(*) FROM clinical.households WHERE facility_id = ${bb}`));
  assert.ok(total > 0);
  assert.equal(asApp(pl, `SELECT count(*) FROM clinical.households WHERE facility_id = ${bb}`), '0');
  assert.equal(asApp(pl, `SELECT count(*) FROM clinical.household_members WHERE facility_id = ${bb}`), '0');
  assert.equal(asApp(bb, `SELECT count(*) FROM clinical.households WHERE facility_id = ${bb}`), String(total));
  assert.equal(asApp(pl, `WITH u AS (UPDATE clinical.households SET village = 'X' WHERE facility_id = ${bb} RETURNING 1) SELECT count(*) FROM u`), '0');
});

test('household reads and writes are audited', async () => {
  const h = await household(phucloc, 'PL-TEST-A', [
    { relationship: 'head', patient: { full_name: 'Đinh Văn Ghi', birth_date: '1977', sex: 'male' } },
  ]);
  await phucloc.get(`/api/v1/households/${h.id}`);
  await phucloc.get('/api/v1/households');
  const rows = srv.sql(`SELECT action FROM audit.events WHERE entity = 'household' AND entity_id = '${h.id}' AND outcome = 'ok' ORDER BY id`).split('\n');
  assert.deepEqual(rows, ['create', 'add_member', 'read']);
  assert.ok(audits(`entity = 'patient' AND action = 'create' AND patient_id = ${h.head_patient_id}`) === 1);
  assert.ok(audits(`entity = 'household' AND action = 'search' AND username = 'yt.phucloc'`) >= 1);
});
