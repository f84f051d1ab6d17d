// ICD-10 catalogue: look-up without diacritics and by code prefix, limits,
// the demo list, and `his catalog load icd10 FILE` with the ministry's file
// (read from ../shared/data when present, skipped otherwise).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, createDatabase, conninfo, psql, BIN } from '../lib/server.mjs';

const OFFICIAL = '../shared/data/icd10/icd10_byt.csv';
let srv, doctor;

before(async () => {
  srv = await startServer();
  doctor = await srv.login('bs.an');
});
after(async () => { await srv?.stop(); });

const codes = (r) => r.json.items.map((i) => i.code);

test('search by name ignores diacritics and case: "viem phoi" finds "Viêm phổi"', async () => {
  const r = await doctor.get('/api/v1/icd10?q=viem%20phoi');
  assert.equal(r.status, 200);
  assert.ok(r.json.total >= 1);
  assert.ok(codes(r).includes('J18.9'), r.text);
  const j189 = r.json.items.find((i) => i.code === 'J18.9');
  assert.match(j189.name, /^Viêm phổi/);
  assert.equal(j189.name_en, 'Pneumonia, unspecified');
  for (const q of ['VIÊM PHỔI', 'Viem  Phoi', 'phoi viem']) {
    const x = await doctor.get(`/api/v1/icd10?q=${encodeURIComponent(q)}`);
    assert.ok(codes(x).includes('J18.9'), q);
  }
  const dengue = await doctor.get(`/api/v1/icd10?q=${encodeURIComponent('sot xuat huyet dengue')}`);
  assert.deepEqual(codes(dengue), ['A91']);
  const tcm = await doctor.get('/api/v1/icd10?q=tay%20chan%20mieng');
  assert.deepEqual(codes(tcm), ['B08.4']);
  const en = await doctor.get('/api/v1/icd10?q=hypertension');
  assert.ok(codes(en).includes('I10'));
  const none = await doctor.get('/api/v1/icd10?q=khong%20co%20benh%20nay');
  assert.equal(none.json.total, 0);
  assert.deepEqual(none.json.items, []);
});

test('search by code prefix, with or without the dot, codes first', async () => {
  const a = await doctor.get('/api/v1/icd10?q=J18');
  assert.deepEqual(codes(a).slice(0, 2), ['J18.0', 'J18.9']);
  for (const q of ['j189', 'J18.9', 'j18.9']) {
    const r = await doctor.get(`/api/v1/icd10?q=${q}`);
    assert.equal(codes(r)[0], 'J18.9', q);
  }
  const i = await doctor.get('/api/v1/icd10?q=I10');
  assert.equal(codes(i)[0], 'I10');
  const one = await doctor.get('/api/v1/icd10/e11.9');
  assert.equal(one.status, 200);
  assert.equal(one.json.code, 'E11.9');
  assert.equal((await doctor.get('/api/v1/icd10/Z99.9')).status, 404);
});

test('paging, limits and errors name the parameter; English names on request', async () => {
  const all = await doctor.get('/api/v1/icd10');
  assert.ok(all.json.total >= 150, `demo list has ${all.json.total} codes`);
  assert.equal(all.json.items.length, 50);
  const p2 = await doctor.get('/api/v1/icd10?limit=10&offset=10');
  assert.equal(p2.json.items.length, 10);
  assert.deepEqual(codes(p2), codes(all).slice(10, 20));
  for (const [q, field] of [['limit=0', 'limit'], ['limit=201', 'limit'], ['offset=-1', 'offset'], [`q=${'a'.repeat(201)}`, 'q']]) {
    const r = await doctor.get(`/api/v1/icd10?${q}`);
    assert.equal(r.status, 422, q);
    assert.equal(r.json.errors[0].field, field);
  }
  const en = await doctor.get('/api/v1/icd10?q=J18.9', { 'Accept-Language': 'en' });
  assert.equal(en.json.items[0].name, 'Pneumonia, unspecified');
  assert.equal((await srv.anon().get('/api/v1/icd10?q=j18')).status, 401);
  // the service catalogue look-up used by the visit form
  const s = await doctor.get('/api/v1/services?q=glucose');
  assert.equal(s.status, 200);
  assert.deepEqual(s.json.items.map((x) => x.code), ['XN.0002']);
});

function loadCmd(file, extra = []) {
  return spawnSync(BIN, ['catalog', 'load', 'icd10', file, '--database-url', srv.dbUrl, ...extra],
    { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
}

test('his catalog load icd10 loads the ministry file (skipped without ../shared/data)', { skip: !existsSync(OFFICIAL) && 'no ../shared/data' }, async () => {
  const r = loadCmd(OFFICIAL);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /new/);
  const n = Number(srv.sql('SELECT count(*) FROM catalog.icd10'));
  assert.ok(n > 12000, `${n} codes`);
  // dagger/asterisk marks kept apart from the code; asterisk codes are not primary
  assert.equal(srv.sql(`SELECT dagger_asterisk || '|' || main_allowed::text FROM catalog.icd10 WHERE code = 'D63.0'`), '*|false');
  assert.equal(srv.sql(`SELECT dagger_asterisk || '|' || main_allowed::text FROM catalog.icd10 WHERE code = 'A17.0'`), '†|true');
  // listed both plain and marked (A17 and A17†): one row, the plain name
  assert.equal(srv.sql(`SELECT count(*) || '|' || coalesce(max(dagger_asterisk), '') FROM catalog.icd10 WHERE code = 'A17'`), '1|');
  const q = await doctor.get('/api/v1/icd10?q=viem%20mang%20nao%20do%20lao');
  assert.ok(codes(q).includes('A17.0'), q.text);
  const t = await doctor.get('/api/v1/icd10?q=benh%20ta');
  assert.ok(codes(t).includes('A00'));
  // loading again updates in place; nothing is duplicated
  const again = loadCmd(OFFICIAL);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, / 0 new/);
  assert.equal(Number(srv.sql('SELECT count(*) FROM catalog.icd10')), n);
});

test('the loader reports a bad line with nothing loaded, and --replace marks absent codes invalid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'icd-'));
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, 'code,name_vi,name_en\nU49.9,Tình trạng phụ thuộc khác,Other\nnot-a-code,Sai,Bad\n');
  const before = srv.sql('SELECT count(*) FROM catalog.icd10');
  const r = loadCmd(bad);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /line 3/);
  assert.equal(srv.sql('SELECT count(*) FROM catalog.icd10'), before);
  assert.equal(srv.sql(`SELECT count(*) FROM catalog.icd10 WHERE code = 'U49.9'`), '0');

  const good = join(dir, 'good.csv');
  writeFileSync(good, '\uFEFFcode,name_vi,name_en\r\nU49.9,"Tình trạng phụ thuộc khác, có ""trích dẫn""",Other dependence\r\nJ18.9,Viêm phổi không đặc hiệu,Pneumonia\r\n');
  const g = loadCmd(good);
  assert.equal(g.status, 0, g.stderr);
  assert.equal(srv.sql(`SELECT name_vi FROM catalog.icd10 WHERE code = 'U49.9'`), 'Tình trạng phụ thuộc khác, có "trích dẫn"');
  assert.equal(srv.sql(`SELECT chapter FROM catalog.icd10 WHERE code = 'U49.9'`), 'XXII');

  // a fresh copy of the template so the server's catalogue stays whole
  const scratch = createDatabase();
  const rep = spawnSync(BIN, ['catalog', 'load', 'icd10', good, '--replace', '--database-url', conninfo(scratch)], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  assert.equal(rep.status, 0, rep.stderr);
  assert.match(rep.stdout, /1 new, 1 updated, \d+ marked invalid/);
  assert.equal(psql(scratch, `SELECT count(*) FROM catalog.icd10 WHERE valid`), '2');
  assert.equal(psql(scratch, `SELECT valid FROM catalog.icd10 WHERE code = 'I10'`), 'f'); // kept, not deleted
  psql('postgres', `DROP DATABASE ${scratch}`);

  const usage = spawnSync(BIN, ['catalog', 'load'], { encoding: 'utf8' });
  assert.equal(usage.status, 2);
  const missing = loadCmd(join(dir, 'none.csv'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot open/);
});
