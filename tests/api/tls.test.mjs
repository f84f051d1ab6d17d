// Issue 9 point 7: HTTPS (TLS 1.2/1.3 only, HSTS, Secure cookie, plain HTTP refused on the TLS port), security
// headers, login rate limits per account and per client address (429 + Retry-After), password rules.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { startServer, createDatabase, conninfo, BIN } from '../lib/server.mjs';

const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' };
let dir, proc, port, stderr = '';

before(async () => {
  dir = mkdtempSync('/tmp/his-tls-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const db = createDatabase();
  proc = spawn(BIN, ['serve', '--database-url', conninfo(db), '--listen', '127.0.0.1:0', '--threads', '2', '--db-pool', '4',
    '--tls-cert', `${dir}/cert.pem`, '--tls-key', `${dir}/key.pem`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.on('data', (d) => { stderr += d; });
  port = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => { out += d; const m = out.match(/serving on https:\/\/[^:]+:(\d+)\//); if (m) resolve(Number(m[1])); });
    proc.on('exit', (c) => reject(new Error(`his serve exited ${c}: ${stderr}`)));
  });
});
after(async () => {
  if (proc && proc.exitCode === null) { const done = new Promise((r) => proc.on('exit', r)); proc.kill('SIGTERM'); await done; }
  rmSync(dir, { recursive: true, force: true });
});

function https(method, path, body, { minVersion, maxVersion } = {}) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = request({ host: '127.0.0.1', port, method, path, rejectUnauthorized: false, minVersion, maxVersion,
      headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

function sClient(flag, extra = []) {
  return spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, flag, ...extra],
    { input: '', encoding: 'utf8', timeout: 10000 });
}

test('HTTPS works over TLS 1.3 and TLS 1.2 with HSTS and the security headers', async () => {
  const r13 = await https('GET', '/healthz', undefined, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
  assert.equal(r13.status, 200);
  const r12 = await https('GET', '/healthz', undefined, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  assert.equal(r12.status, 200);
  for (const r of [r13, r12]) {
    assert.match(r.headers['strict-transport-security'], /max-age=\d{7,}/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(r.headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.match(r.headers['content-security-policy'], /script-src 'self'/);
    assert.doesNotMatch(r.headers['content-security-policy'], /unsafe-inline/);
  }
  assert.match(sClient('-tls1_3').stdout, /New, TLSv1\.3, Cipher is TLS_(AES_\d+_GCM|CHACHA20_POLY1305)/);
  assert.match(sClient('-tls1_2').stdout, /New, TLSv1\.2, Cipher is ECDHE-ECDSA-(AES\d+-GCM|CHACHA20-POLY1305)/);
});

test('TLS 1.0 and 1.1 are refused, and plain HTTP to the TLS port fails', async () => {
  for (const flag of ['-tls1_1', '-tls1']) {
    const out = sClient(flag, ['-cipher', 'DEFAULT@SECLEVEL=0']);
    assert.match(out.stdout, /Cipher is \(NONE\)/, flag);
    assert.doesNotMatch(out.stdout, /New, TLSv1(\.1)?, Cipher is [A-Z]/, flag);
  }
  await assert.rejects(https('GET', '/healthz', undefined, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
  const plain = await new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', timeout: 5000 }, (res) => resolve(res.statusCode));
    req.on('error', (e) => resolve('error ' + e.code));
    req.on('timeout', () => { req.destroy(); resolve('timeout'); });
    req.end();
  });
  assert.notEqual(plain, 200);
});

test('the session cookie is Secure over TLS (and not over plain HTTP)', async () => {
  const r = await https('POST', '/api/v1/auth/login', { username: 'dd.hoa', password: 'Demo@2026' });
  assert.equal(r.status, 200);
  const cookie = r.headers['set-cookie'].join(';');
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /; Secure/);
  const srv = await startServer();
  try {
    const p = await srv.anon().post('/api/v1/auth/login', { username: 'dd.hoa', password: 'Demo@2026' });
    assert.equal(p.status, 200);
    assert.doesNotMatch(p.headers.get('set-cookie'), /Secure/);
    assert.equal(p.headers.get('strict-transport-security'), null);
  } finally { await srv.stop(); }
});

test('login rate limit per account: the 11th attempt in a minute is 429 with Retry-After; other accounts unaffected', async () => {
  const srv = await startServer();
  try {
    const c = srv.anon();
    for (let i = 0; i < 10; i++) {
      const r = await c.post('/api/v1/auth/login', { username: 'bs.binh', password: 'Demo@2026' });
      assert.equal(r.status, 200, `attempt ${i + 1}`);
    }
    const limited = await c.post('/api/v1/auth/login', { username: 'bs.binh', password: 'Demo@2026' });
    assert.equal(limited.status, 429);
    assert.match(limited.headers.get('content-type'), /problem\+json/);
    const wait = Number(limited.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
    // Case does not get around it.
    assert.equal((await c.post('/api/v1/auth/login', { username: 'BS.BINH', password: 'x' })).status, 429);
    assert.equal((await c.post('/api/v1/auth/login', { username: 'dd.hoa', password: 'Demo@2026' })).status, 200);
  } finally { await srv.stop(); }
});

test('login rate limit per client address: 30 a minute, then 429 for every account from it; another address unaffected', async () => {
  const srv = await startServer();
  try {
    const users = ['bs.an', 'dd.hoa', 'ds.lan', 'bh.minh', 'admin', 'syt.thu'];
    let n = 0;
    for (let i = 0; i < 30; i++) {
      const r = await srv.anon().post('/api/v1/auth/login', { username: users[i % users.length], password: 'wrong-' + i });
      assert.ok([401, 423].includes(r.status), `attempt ${i + 1}: ${r.status}`);
      n++;
    }
    assert.equal(n, 30);
    const limited = await srv.anon().post('/api/v1/auth/login', { username: 'yt.babe', password: 'Demo@2026' });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    // 127.0.0.2 is another loopback address: its own budget.
    const other = await new Promise((resolve, reject) => {
      const url = new URL(srv.url);
      const data = JSON.stringify({ username: 'yt.babe', password: 'Demo@2026' });
      const req = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: '/api/v1/auth/login', localAddress: '127.0.0.2',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } }, (res) => { res.resume(); resolve(res.statusCode); });
      req.on('error', reject);
      req.end(data);
    });
    assert.equal(other, 200);
  } finally { await srv.stop(); }
});

test('password rules: his user add refuses weak passwords with exit 1 and a clear message', async () => {
  const srv = await startServer();
  try {
    const add = (name, pw) => spawnSync(BIN, ['user', 'add', '--facility', '19010', '--role', 'nurse', '--password-stdin',
      '--database-url', srv.dbUrl, name], { input: pw + '\n', encoding: 'utf8', env });
    for (const [pw, why] of [['Ab1!', /at least 8 characters/], ['abcdefg1!', /upper-case/], ['ABCDEFG1!', /lower-case/],
      ['Abcdefgh!', /digit/], ['Abcdefgh1', /symbol/]]) {
      const r = add('dd.yeu', pw);
      assert.equal(r.status, 1, pw);
      assert.match(r.stderr, /weak password/, pw);
      assert.match(r.stderr, why, pw);
    }
    assert.equal(srv.sql(`SELECT count(*) FROM core.users WHERE username = 'dd.yeu'`), '0');
    const ok = add('dd.manh', 'Demo@2026');
    assert.equal(ok.status, 0, ok.stderr);
    // A generated password meets the rules.
    const gen = spawnSync(BIN, ['user', 'add', '--facility', '19010', '--role', 'nurse', '--database-url', srv.dbUrl, 'dd.ngau'],
      { encoding: 'utf8', env });
    assert.equal(gen.status, 0, gen.stderr);
    const pw = gen.stdout.match(/password: (\S+)/)[1];
    assert.match(pw, /[A-Z]/); assert.match(pw, /[a-z]/); assert.match(pw, /[0-9]/); assert.match(pw, /[^A-Za-z0-9]/);
    const login = await srv.anon().post('/api/v1/auth/login', { username: 'dd.ngau', password: pw });
    assert.equal(login.status, 200);
  } finally { await srv.stop(); }
});
