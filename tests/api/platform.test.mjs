// Issue 2: the platform — health, accounts, sessions, CSRF, lockout, problem+json, limits, audit chain,
// migrations, readiness during a database outage, command-line help.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { startServer, BIN, psql, conninfo, Client } from '../lib/server.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

function his(args, opts = {}) {
  return spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' }, ...opts });
}

test('healthz and readyz answer, with a request id', async () => {
  const c = srv.anon();
  const h = await c.get('/healthz');
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  assert.match(h.headers.get('x-request-id'), /^[0-9a-f]{16}$/);
  const r = await c.get('/readyz');
  assert.equal(r.status, 200);
  assert.equal(r.json.database, 'ok');
});

test('login returns a token, the user and an HttpOnly SameSite=Strict cookie', async () => {
  const c = srv.anon();
  const r = await c.post('/api/v1/auth/login', { username: 'bs.an', password: 'Demo@2026' });
  assert.equal(r.status, 200);
  assert.match(r.json.token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(r.json.user.username, 'bs.an');
  assert.equal(r.json.user.role, 'doctor');
  assert.equal(r.json.user.facility.code, '19010');
  const cookie = r.headers.get('set-cookie');
  assert.match(cookie, /his_session=[A-Za-z0-9_-]{43}/);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  // The token is stored hashed, never in clear.
  const stored = srv.sql(`SELECT count(*) FROM core.sessions WHERE token_hash = '${r.json.token}'`);
  assert.equal(stored, '0');
  const hashed = srv.sql(`SELECT count(*) FROM core.sessions WHERE token_hash = encode(sha256('${r.json.token}'::bytea), 'hex')`);
  assert.equal(hashed, '1');
});

test('wrong password: 401 problem+json naming the field; passwords are scrypt hashes', async () => {
  const r = await srv.anon().post('/api/v1/auth/login', { username: 'bs.an', password: 'wrong-password' });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(r.json.status, 401);
  assert.equal(r.json.errors[0].field, 'password');
  assert.ok(r.json.errors[0].message.length > 0);
  assert.match(srv.sql(`SELECT password_hash FROM core.users WHERE username = 'bs.an'`), /^scrypt\$32768\$8\$1\$/);
});

test('bearer token authenticates; no token is 401; logout ends the session', async () => {
  const c = await srv.login('dd.hoa');
  const me = await c.get('/api/v1/auth/me');
  assert.equal(me.status, 200);
  assert.equal(me.json.user.role, 'nurse');
  assert.equal((await srv.anon().get('/api/v1/auth/me')).status, 401);
  const bad = new Client(srv.url, 'x'.repeat(43));
  assert.equal((await bad.get('/api/v1/auth/me')).status, 401);
  const out = await c.post('/api/v1/auth/logout', {});
  assert.equal(out.status, 204);
  assert.equal((await c.get('/api/v1/auth/me')).status, 401);
});

test('an expired session is refused', async () => {
  const c = await srv.login('bh.minh');
  srv.sql(`UPDATE core.sessions SET expires_at = now() - interval '1 second' WHERE user_id = (SELECT id FROM core.users WHERE username = 'bh.minh')`);
  assert.equal((await c.get('/api/v1/auth/me')).status, 401);
});

test('cookie sessions need the CSRF token on state-changing requests', async () => {
  const login = await srv.anon().post('/api/v1/auth/login', { username: 'bs.binh', password: 'Demo@2026' });
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const csrf = login.json.csrf_token;
  const post = (hdrs) => fetch(srv.url + '/api/v1/patients', {
    method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie, ...hdrs }, body: '{}',
  });
  // GET with the cookie alone is fine.
  const me = await fetch(srv.url + '/api/v1/auth/me', { headers: { Cookie: cookie } });
  assert.equal(me.status, 200);
  const none = await post({});
  assert.equal(none.status, 403);
  assert.equal((await none.json()).errors[0].field, 'X-CSRF-Token');
  const wrong = await post({ 'X-CSRF-Token': 'A'.repeat(43) });
  assert.equal(wrong.status, 403);
  const right = await post({ 'X-CSRF-Token': csrf });
  assert.notEqual(right.status, 403); // past the CSRF check (the empty body is then invalid)
  assert.notEqual(right.status, 401);
});

test('five wrong passwords lock the account, even for the right password', async () => {
  execFileSync(BIN, ['user', 'add', '--facility', '19010', '--role', 'nurse', '--password-stdin', '--database-url', srv.dbUrl, 'dd.khoa'],
    { input: 'Mat-khau-dung-1\n', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
  const c = srv.anon();
  assert.equal((await c.post('/api/v1/auth/login', { username: 'dd.khoa', password: 'Mat-khau-dung-1' })).status, 200);
  for (let i = 0; i < 5; i++)
    assert.equal((await c.post('/api/v1/auth/login', { username: 'dd.khoa', password: 'sai-' + i })).status, 401);
  const locked = await c.post('/api/v1/auth/login', { username: 'dd.khoa', password: 'Mat-khau-dung-1' });
  assert.equal(locked.status, 423);
  assert.equal(locked.json.errors[0].field, 'username');
  assert.ok(Number(locked.headers.get('retry-after')) > 0);
});

test('malformed input: bad JSON 400, wrong content type 415, oversized body 413, unknown path 404, wrong method 405', async () => {
  const bad = await fetch(srv.url + '/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"username": "bs.an",' });
  assert.equal(bad.status, 400);
  const bj = await bad.json();
  assert.equal(bj.errors[0].field, 'body');
  const ct = await fetch(srv.url + '/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
  assert.equal(ct.status, 415);
  const notObj = await srv.anon().post('/api/v1/auth/login', '[1,2]');
  assert.equal(notObj.status, 400);
  const missing = await srv.anon().post('/api/v1/auth/login', { username: 'bs.an' });
  assert.equal(missing.status, 422);
  assert.deepEqual(missing.json.errors.map((e) => e.field), ['password']);
  const typed = await srv.anon().post('/api/v1/auth/login', { username: 42, password: 'x' });
  assert.equal(typed.status, 422);
  assert.equal(typed.json.errors[0].field, 'username');
  const big = await fetch(srv.url + '/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '"' + 'a'.repeat(2 * 1024 * 1024) + '"' });
  assert.equal(big.status, 413);
  const nf = await srv.anon().get('/api/v1/nothing-here');
  assert.equal(nf.status, 404);
  assert.match(nf.headers.get('content-type'), /problem\+json/);
  const mm = await srv.anon().req('DELETE', '/api/v1/auth/login');
  assert.equal(mm.status, 405);
  // The server is still fine afterwards.
  assert.equal((await srv.anon().get('/healthz')).status, 200);
});

test('keep-alive: one connection carries several requests', () => {
  const out = spawnSync('curl', ['-sv', '-o', '/dev/null', '-o', '/dev/null', srv.url + '/healthz', srv.url + '/healthz'], { encoding: 'utf8' });
  assert.match(out.stderr, /Re-using existing connection|Reusing existing connection/);
});

test('static web shell is served with a strict Content-Security-Policy; traversal is refused', async () => {
  const r = await fetch(srv.url + '/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/html/);
  assert.match(r.headers.get('content-security-policy'), /script-src 'self'/);
  assert.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  for (const p of ['/../README.md', '/%2e%2e/README.md', '/css/../../README.md', '/.git/config'])
    assert.notEqual((await fetch(srv.url + p)).status, 200, p);
});

test('audit: logins are recorded, the chain verifies, and an altered or deleted row is detected', async () => {
  await srv.login('yt.babe');
  const n = Number(srv.sql(`SELECT count(*) FROM audit.events WHERE action = 'login' AND username = 'yt.babe' AND outcome = 'ok'`));
  assert.ok(n >= 1);
  const ok = his(['audit', 'verify', '--database-url', srv.dbUrl]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /intact/);

  // Append-only: the application role cannot change rows, and even the owner is stopped by a trigger.
  assert.throws(() => srv.sql(`SET ROLE his_app; UPDATE audit.events SET outcome = 'x'`));
  assert.throws(() => srv.sql(`DELETE FROM audit.events`));

  const s = await startServer();
  await s.login('bs.an');
  await s.login('bs.an');
  await s.login('bs.an');
  await s.stop();
  const db = s.db, url = s.dbUrl;
  // Chains are per facility and shard: take the longest chain of 19010.
  const fac = `(SELECT id FROM core.facilities WHERE code = '19010')`;
  const shard = psql(db, `SELECT shard FROM audit.events WHERE facility_id = ${fac} GROUP BY shard ORDER BY count(*) DESC LIMIT 1`);
  const where = `facility_id = ${fac} AND shard = ${shard}`;
  const rows = Number(psql(db, `SELECT count(*) FROM audit.events WHERE ${where}`));
  assert.ok(rows >= 2, 'a chain with at least two rows');
  psql(db, `ALTER TABLE audit.events DISABLE TRIGGER audit_append_only;
            UPDATE audit.events SET username = 'ke.gian' WHERE ${where} AND chain_seq = 1`);
  const altered = his(['audit', 'verify', '--database-url', url]);
  assert.equal(altered.status, 1);
  assert.match(altered.stderr, /row 1: content altered/);
  psql(db, `UPDATE audit.events SET username = 'bs.an' WHERE ${where} AND chain_seq = 1`);
  assert.equal(his(['audit', 'verify', '--database-url', url]).status, 0);
  psql(db, `DELETE FROM audit.events WHERE ${where} AND chain_seq = 1`);
  const deleted = his(['audit', 'verify', '--database-url', url]);
  assert.equal(deleted.status, 1);
  assert.match(deleted.stderr, /missing|deleted/);
});

test('migrations: recorded with checksums; pending ones stop serve without --migrate; a changed one is refused', async () => {
  const db = 'test_mig_' + Date.now();
  psql('postgres', `CREATE DATABASE ${db}`);
  const url = conninfo(db);
  const refuse = his(['serve', '--database-url', url, '--listen', '127.0.0.1:0'], { timeout: 20000 });
  assert.equal(refuse.status, 1);
  assert.match(refuse.stderr, /pending migration/);
  const st0 = his(['db', 'status', '--database-url', url]);
  assert.equal(st0.status, 1);
  assert.match(st0.stdout, /pending 001_core\.sql/);
  const mig = his(['db', 'migrate', '--database-url', url]);
  assert.equal(mig.status, 0, mig.stderr);
  assert.match(mig.stdout, /applied 001_core\.sql/);
  const st = his(['db', 'status', '--database-url', url]);
  assert.equal(st.status, 0);
  assert.match(psql(db, `SELECT checksum FROM his_migrations WHERE version = 1`), /^[0-9a-f]{64}$/);
  assert.equal(his(['db', 'migrate', '--database-url', url]).stdout.trim(), '0 migration(s) applied');
  // Simulate an edited file: the recorded checksum no longer matches.
  psql(db, `UPDATE his_migrations SET checksum = repeat('0', 64) WHERE version = 1`);
  const changed = his(['db', 'status', '--database-url', url]);
  assert.equal(changed.status, 1);
  assert.match(changed.stdout, /CHANGED 001_core\.sql/);
  const m2 = his(['db', 'migrate', '--database-url', url]);
  assert.equal(m2.status, 1);
  assert.match(m2.stderr, /changed/);
  const serve = his(['serve', '--database-url', url, '--listen', '127.0.0.1:0', '--migrate'], { timeout: 20000 });
  assert.equal(serve.status, 1);
  assert.match(serve.stderr, /changed/);
});

test('facility add and user add: codes checked, duplicates refused with exit 1', () => {
  const url = srv.dbUrl;
  const ok = his(['facility', 'add', '--code', '19301', '--level', 'commune_station', '--name', 'Trạm Y tế xã Tân Đức', '--commune', '05470', '--database-url', url]);
  assert.equal(ok.status, 0, ok.stderr);
  const dup = his(['facility', 'add', '--code', '19301', '--level', 'commune_station', '--name', 'X', '--database-url', url]);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /exists already/);
  const badLevel = his(['facility', 'add', '--code', '19302', '--level', 'clinic', '--name', 'X', '--database-url', url]);
  assert.equal(badLevel.status, 2);
  const badCode = his(['facility', 'add', '--code', '1930', '--level', 'pharmacy', '--name', 'X', '--database-url', url]);
  assert.equal(badCode.status, 1);
  const user = his(['user', 'add', '--facility', '19301', '--role', 'commune_worker', '--database-url', url, 'yt.tanduc']);
  assert.equal(user.status, 0, user.stderr);
  assert.match(user.stdout, /password: \S{16}/);
  const again = his(['user', 'add', '--facility', '19301', '--role', 'commune_worker', '--database-url', url, 'yt.tanduc']);
  assert.equal(again.status, 1);
  const badRole = his(['user', 'add', '--facility', '19301', '--role', 'surgeon', '--database-url', url, 'x.y']);
  assert.equal(badRole.status, 2);
  const noFac = his(['user', 'add', '--facility', '99999', '--role', 'doctor', '--database-url', url, 'bs.khong']);
  assert.equal(noFac.status, 1);
  assert.match(noFac.stderr, /no facility/);
});

test('every subcommand answers --help with exit 0; unknown commands exit 2', () => {
  for (const sub of [['serve'], ['db', 'migrate'], ['db', 'status'], ['db', 'conninfo'], ['db', 'replication-listen'], ['user', 'add'], ['facility', 'add'],
    ['seed', 'demo'], ['audit', 'verify'], ['hl7', 'parse'], ['hl7', 'validate']]) {
    const r = his([...sub, '--help']);
    assert.equal(r.status, 0, sub.join(' '));
    assert.match(r.stdout, /Usage|usage/, sub.join(' '));
  }
  const serveHelp = his(['serve', '--help']).stdout;
  for (const opt of ['--listen', '--database-url', 'HIS_DATABASE_URL', 'HIS_LISTEN', '--data-dir', 'config file'])
    assert.ok(serveHelp.includes(opt), opt);
  assert.equal(his(['frobnicate']).status, 2);
  assert.equal(his(['serve', '--no-such-flag']).status, 2);
});

test('readyz fails while PostgreSQL is down and the server reconnects by itself', async () => {
  const dir = mkdtempSync('/tmp/his-outage-');
  const script = new URL('../lib/pgcluster.sh', import.meta.url).pathname;
  const host = execFileSync(script, ['start', dir], { encoding: 'utf8' }).trim();
  const url = `host=${host} user=postgres dbname=postgres`;
  let s;
  try {
    assert.equal(his(['db', 'migrate', '--database-url', url]).status, 0);
    assert.equal(his(['seed', 'demo', '--database-url', url]).status, 0);
    // startServer copies a template; here we run against this cluster directly.
    const { spawn } = await import('node:child_process');
    const proc = spawn(BIN, ['serve', '--database-url', url, '--listen', '127.0.0.1:0', '--threads', '2', '--db-pool', '4'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
    const base = await new Promise((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d) => { out += d; const m = out.match(/serving on (http:\/\/\S+?)\/?\n/); if (m) resolve(m[1]); });
      proc.on('exit', (c) => reject(new Error('exit ' + c)));
    });
    s = proc;
    const c = new Client(base);
    const login = await c.post('/api/v1/auth/login', { username: 'bs.an', password: 'Demo@2026' });
    assert.equal(login.status, 200);
    c.token = login.json.token;
    assert.equal((await c.get('/readyz')).status, 200);
    execFileSync(script, ['stop', dir]);
    const down = await c.get('/readyz');
    assert.equal(down.status, 503);
    assert.equal(down.json.database, 'unreachable');
    const during = await c.get('/api/v1/auth/me');
    assert.equal(during.status, 503);
    assert.ok(during.headers.get('retry-after'));
    assert.equal((await c.get('/healthz')).status, 200); // the process itself is alive
    execFileSync(script, ['start', dir]);
    let back = 0;
    for (let i = 0; i < 50 && back !== 200; i++) {
      back = (await c.get('/readyz')).status;
      if (back !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(back, 200);
    assert.equal((await c.get('/api/v1/auth/me')).status, 200);
  } finally {
    if (s) { s.kill('SIGTERM'); await new Promise((r) => s.on('exit', r)); }
    execFileSync(script, ['stop', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the access log names routes, never passwords, tokens or query strings', async () => {
  const secret = 'Demo@2026';
  const c = await srv.login('ds.lan', secret);
  await c.get('/api/v1/auth/me?q=Nguyen%20Van%20An');
  await new Promise((r) => setTimeout(r, 100));
  const log = srv.stderr();
  assert.match(log, /http POST \/api\/v1\/auth\/login 200/);
  assert.match(log, /http GET \/api\/v1\/auth\/me 200 .* user=\d+/);
  assert.ok(!log.includes(secret), 'password in the log');
  assert.ok(!log.includes(c.token), 'token in the log');
  assert.ok(!log.includes('Nguyen'), 'query string in the log');
});
