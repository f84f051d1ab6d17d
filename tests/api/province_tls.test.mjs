// Issue 8 point 1: replication connects over TLS with its own least-privilege role.
// Two embedded clusters on loopback, each under its own data folder: a district (19010) whose
// database `his db replication-listen` opens on 127.0.0.1 and a free port (TLS only, role
// his_replication only, certificate from a throwaway CA made here with openssl), and the province
// (19001), which adds the district with the string `his db conninfo --replication` prints
// (sslmode=verify-full). A visit recorded at the district arrives at the province through a
// walsender whose connection is TLS; plain TCP, other roles, a wrong password and a wrong CA are
// refused; his_replication cannot write. docs/province.md, "The replication role and TLS".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, rmSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { BIN, ENV, tempDir, serve } from '../lib/embedded.mjs';

const root = tempDir('his-tls-');
const D = `${root}/district`; // the district's DATA_DIR
const P = `${root}/province`; // the province's DATA_DIR
const tls = `${root}/tls`;
const PASSWORD = 'Demo@2026';
let port;
let district, province; // his serve processes (they keep the clusters running)
let firstHashes;

function his(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', env: ENV, timeout: 120000, ...opts });
  return { status: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}
function hisOk(args, opts) {
  const r = his(args, opts);
  assert.equal(r.status, 0, `his ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
// psql through a cluster's own socket, as postgres; the district's socket file is named by its new port.
function sql(dir, q, p = 5432) {
  return execFileSync('psql', ['-h', `${dir}/pg/run`, '-p', String(p), '-U', 'postgres', '-d', 'his', '-v', 'ON_ERROR_STOP=1',
    '-qAt', '-c', q], { encoding: 'utf8' }).trim();
}
// A libpq connection over TCP with the given conninfo (no password prompt), running q.
function tcp(conninfo, q = 'SELECT 1') {
  const r = spawnSync('psql', ['-w', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-c', q],
    { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
  return { status: r.status, stdout: (r.stdout || '').trim(), stderr: r.stderr || '' };
}
const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const hash = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');
const listenFiles = () => [`${D}/pg/data/his-local.conf`, `${D}/pg/data/pg_hba.conf`, `${D}/replication.password`,
  `${D}/replication.listen`, `${D}/pg/data/server.key`];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(250);
  }
}
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
const listenArgs = () => ['db', 'replication-listen', '--listen', `127.0.0.1:${port}`, '--tls-cert', `${tls}/server.crt`,
  '--tls-key', `${tls}/server.key`, '--tls-ca', `${tls}/ca.crt`, '--allow', '127.0.0.1/32', '--data-dir', D];
// The conninfo's key='value' pairs.
function parseConninfo(s) {
  const o = {};
  for (const m of s.matchAll(/(\w+)='((?:[^'\\]|\\.)*)'/g)) o[m[1]] = m[2].replace(/\\(.)/g, '$1');
  return o;
}
async function api(base, method, path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

before(async () => {
  // A throwaway CA and a server certificate it signs, for 127.0.0.1 (verify-full checks the name);
  // a second CA that signed nothing here, for the wrong-root check.
  mkdirSync(tls);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=his test CA',
    '-keyout', `${tls}/ca.key`, '-out', `${tls}/ca.crt`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', `${tls}/server.key`,
    '-out', `${tls}/server.csr`);
  writeFileSync(`${tls}/ext.cnf`, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', `${tls}/server.csr`, '-CA', `${tls}/ca.crt`, '-CAkey', `${tls}/ca.key`,
    '-CAcreateserial', '-days', '2', '-extfile', `${tls}/ext.cnf`, '-out', `${tls}/server.crt`);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other CA',
    '-keyout', `${tls}/other.key`, '-out', `${tls}/other.crt`);
  for (const f of ['ca.crt', 'server.crt', 'other.crt']) chmodSync(`${tls}/${f}`, 0o644);

  // The district: schema, its hospital, a doctor, node identity; then the listener.
  mkdirSync(D);
  chmodSync(D, 0o755);
  hisOk(['db', 'migrate', '--data-dir', D]);
  hisOk(['facility', 'add', '--code', '19010', '--level', 'district_hospital', '--name', 'Bệnh viện huyện Phú Bình',
    '--data-dir', D]);
  hisOk(['user', 'add', '--facility', '19010', '--role', 'doctor', '--password-stdin', '--data-dir', D, 'bs.an'],
    { input: PASSWORD + '\n' });
  hisOk(['province', 'node', '--code', '19010', '--data-dir', D]);
  port = await freePort();
  const out = hisOk(listenArgs());
  assert.match(out, new RegExp(`replication listener on 127\\.0\\.0\\.1:${port}: TLS only`));
  assert.match(out, /checked: TLS \(TLSv1\.[23]\) and login as his_replication/);
  firstHashes = listenFiles().map(hash);
  district = await serve(D); // through the socket of the new port

  // The province: schema and node identity, its server running (the subscription works while its
  // cluster runs).
  mkdirSync(P);
  chmodSync(P, 0o755);
  hisOk(['db', 'migrate', '--data-dir', P]);
  hisOk(['province', 'node', '--code', '19001', '--data-dir', P]);
  province = await serve(P);
});

after(async () => {
  for (const s of [district, province]) if (s) await s.stop();
  rmSync(root, { recursive: true, force: true });
});

test('replication-listen: --help, usage errors (2), wrong values (1, one line), --database-url only prints the steps', async () => {
  const help = his(['db', 'replication-listen', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: his db replication-listen --listen HOST:PORT --tls-cert FILE --tls-key FILE --allow CIDR/);
  assert.equal(his(['db', 'replication-listen', '--listen', `127.0.0.1:${port}`, '--data-dir', D]).status, 2);
  assert.equal(his([...listenArgs(), '--frobnicate']).status, 2);
  const oneLine = (r, re) => {
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  };
  const args = listenArgs();
  const with_ = (flag, value) => { const a = [...args]; a[a.indexOf(flag) + 1] = value; return a; };
  oneLine(his(with_('--tls-key', `${tls}/ca.key`)), /does not belong to the certificate/);
  oneLine(his(with_('--tls-ca', `${tls}/other.crt`)), /does not verify against/);
  oneLine(his(with_('--listen', `10.9.8.7:${port}`)), /does not name 10\.9\.8\.7/);
  oneLine(his(with_('--allow', '127.0.0.1')), /--allow needs an address with its prefix length/);
  oneLine(his(with_('--listen', '127.0.0.1:70000')), /--listen needs IP:PORT/);
  oneLine(his(with_('--listen', `0.0.0.0:${port}`)), /--advertise NAME/);
  const noCa = args.filter((a, i) => a !== '--tls-ca' && args[i - 1] !== '--tls-ca');
  oneLine(his(noCa), /signed by a CA: give that CA's certificate with --tls-ca/);
  // A port another program holds: refused before anything is written (a restart would leave the cluster down).
  const busy = createServer();
  await new Promise((r) => busy.listen(0, '127.0.0.1', r));
  try {
    oneLine(his(with_('--listen', `127.0.0.1:${busy.address().port}`)), /is in use/);
  } finally {
    await new Promise((r) => busy.close(r));
  }
  // None of these changed anything.
  assert.deepEqual(listenFiles().map(hash), firstHashes);
  // An outside server: the exact steps, nothing changed.
  const steps = his([...args.slice(0, -2), '--database-url', `host=${D}/pg/run port=${port} dbname=his user=postgres`]);
  assert.equal(steps.status, 0, steps.stderr);
  assert.match(steps.stdout, /nothing was changed/);
  assert.match(steps.stdout, /hostssl his his_replication 127\.0\.0\.1\/32 scram-sha-256/);
  assert.match(steps.stdout, /ssl_min_protocol_version = 'TLSv1\.2'/);
  assert.match(steps.stdout, /ALTER ROLE his_replication PASSWORD '[A-Za-z0-9_-]{43}'/);
  assert.match(steps.stdout, /sslmode=verify-full/);
  assert.deepEqual(listenFiles().map(hash), firstHashes);
});

test('the listener: TLS 1.2+, SCRAM, only hostssl lines for his_replication, private key and password; a second run changes nothing', () => {
  assert.equal(sql(D, `SELECT current_setting('ssl') || '|' || current_setting('ssl_min_protocol_version') || '|' ||
    current_setting('password_encryption') || '|' || current_setting('listen_addresses') || '|' || current_setting('port')`, port),
  `on|TLSv1.2|scram-sha-256|127.0.0.1|${port}`);
  // pg_hba: the socket lines, and one TCP line: TLS, database his, role his_replication, the allowed address.
  assert.equal(sql(D, `SELECT string_agg(type || ' ' || array_to_string(database, ',') || ' ' || array_to_string(user_name, ',')
    || ' ' || coalesce(address || '/' || netmask, '-') || ' ' || auth_method, '; ' ORDER BY line_number)
    FROM pg_hba_file_rules WHERE type <> 'local'`, port), 'hostssl his his_replication 127.0.0.1/255.255.255.255 scram-sha-256');
  assert.equal(sql(D, `SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL`, port), '0');
  assert.match(sql(D, `SELECT rolpassword FROM pg_authid WHERE rolname = 'his_replication'`, port), /^SCRAM-SHA-256\$4096:/);
  const pgUid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
  const key = statSync(`${D}/pg/data/server.key`);
  assert.equal(key.mode & 0o777, 0o600);
  if (process.getuid() === 0) assert.equal(key.uid, pgUid, 'the key belongs to the cluster\'s user');
  assert.equal(readFileSync(`${D}/pg/data/server.key`, 'utf8'), readFileSync(`${tls}/server.key`, 'utf8'));
  assert.equal(statSync(`${D}/replication.password`).mode & 0o777, 0o600);
  assert.match(readFileSync(`${D}/replication.password`, 'utf8'), /^[A-Za-z0-9_-]{43}\n$/);
  assert.equal(readFileSync(`${D}/replication-root.crt`, 'utf8'), readFileSync(`${tls}/ca.crt`, 'utf8'));
  // Again with the same flags, the district's server running: same files, same password, no restart
  // (the server's sessions survive).
  const started = sql(D, 'SELECT pg_postmaster_start_time()', port);
  const again = hisOk(listenArgs());
  assert.match(again, /checked: TLS/);
  assert.deepEqual(listenFiles().map(hash), firstHashes);
  assert.equal(sql(D, 'SELECT pg_postmaster_start_time()', port), started);
});

test('db conninfo --replication: the listener over TCP, verify-full, its password and root certificate', () => {
  const ci = hisOk(['db', 'conninfo', '--replication', '--data-dir', D]).trim();
  const o = parseConninfo(ci);
  assert.deepEqual({ ...o, password: undefined }, { host: '127.0.0.1', port: String(port), dbname: 'his',
    user: 'his_replication', password: undefined, sslmode: 'verify-full', sslrootcert: `${D}/replication-root.crt` });
  assert.equal(o.password + '\n', readFileSync(`${D}/replication.password`, 'utf8'));
  // The string works as it is (TLS, verified, logged in).
  const ok = tcp(ci, 'SELECT current_user, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^his_replication\|t\|TLSv1\.[23]$/);
  // Without --replication: the socket, as before (with the cluster's port).
  assert.equal(hisOk(['db', 'conninfo', '--data-dir', D]).trim(), `host=${D}/pg/run port=${port} dbname=his user=postgres`);
});

test('the province adds the district with that string; a visit recorded there arrives over a TLS walsender', async () => {
  // The root certificate where the province's postgres user cannot read it: add-district keeps a copy
  // in the province's cluster folder, or the apply worker could never connect.
  const secret = `${root}/root-only`;
  mkdirSync(secret, { mode: 0o700 });
  copyFileSync(`${D}/replication-root.crt`, `${secret}/19010.crt`);
  const ci = hisOk(['db', 'conninfo', '--replication', '--data-dir', D]).trim()
    .replace(/sslrootcert='[^']*'/, `sslrootcert='${secret}/19010.crt'`);
  assert.match(hisOk(['province', 'add-district', '--code', '19010', '--conninfo', ci, '--data-dir', P]),
    /district 19010 added/);
  const sub = parseConninfo(sql(P, `SELECT subconninfo FROM pg_subscription WHERE subname = 'district_19010'`));
  assert.equal(sub.sslrootcert, `${P}/pg/district-19010-root.crt`);
  assert.equal(sub.sslmode, 'verify-full');
  assert.equal(readFileSync(sub.sslrootcert, 'utf8'), readFileSync(`${tls}/ca.crt`, 'utf8'));

  // A visit at the district, through its API.
  const login = await api(district.url, 'POST', '/api/v1/auth/login', { username: 'bs.an', password: PASSWORD });
  assert.equal(login.status, 200, login.text);
  const token = login.json.token;
  const p = await api(district.url, 'POST', '/api/v1/patients', { full_name: 'Hà Văn Truyền', birth_date: '1975-03-04',
    sex: 'male', cccd: '019075000111', confirm_new: true }, token);
  assert.equal(p.status, 201, p.text);
  const v = await api(district.url, 'POST', '/api/v1/visits', { patient_id: p.json.id, kind: 'outpatient' }, token);
  assert.equal(v.status, 201, v.text);
  await until('the visit at the province', () =>
    sql(P, `SELECT count(*) FROM clinical.visits WHERE id = ${v.json.id} AND patient_id = ${p.json.id}`) === '1');
  assert.equal(sql(P, `SELECT ma_lk FROM clinical.visits WHERE id = ${v.json.id}`), v.json.ma_lk);

  // At the district: the subscription's walsender is his_replication from 127.0.0.1, over TLS.
  const ws = sql(D, `SELECT r.usename || '|' || host(r.client_addr) || '|' || s.ssl || '|' || s.version
    FROM pg_stat_replication r JOIN pg_stat_activity a ON a.pid = r.pid JOIN pg_stat_ssl s ON s.pid = r.pid
    WHERE r.application_name = 'district_19010' AND a.backend_type = 'walsender'`, port);
  assert.match(ws, /^his_replication\|127\.0\.0\.1\|true\|TLSv1\.[23]$/);
  // No connection at the district came over TCP without TLS.
  assert.equal(sql(D, `SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
    WHERE a.client_addr IS NOT NULL AND NOT s.ssl`, port), '0');
  const st = JSON.parse(hisOk(['province', 'status', '--json', '--data-dir', P]));
  assert.equal(st.length, 1);
  assert.equal(st[0].district_reachable, true);
  assert.notEqual(st[0].state, 'down');
});

test('refused at the listener: plain TCP, postgres or any other role, a wrong password, another CA; his_replication cannot write', () => {
  const pw = readFileSync(`${D}/replication.password`, 'utf8').trim();
  const base = `host=127.0.0.1 port=${port} dbname=his`;
  const good = `${base} user=his_replication password=${pw} sslmode=verify-full sslrootcert=${D}/replication-root.crt`;
  // The control: the right string connects, so each refusal below is the listener's doing.
  assert.equal(tcp(good).status, 0);
  const refused = (ci, re) => {
    const r = tcp(ci);
    assert.notEqual(r.status, 0, ci);
    assert.match(r.stderr, re);
  };
  refused(`${base} user=his_replication password=${pw} sslmode=disable`,
    /no pg_hba\.conf entry for host "127\.0\.0\.1", user "his_replication", database "his", no encryption/);
  refused(`${base} user=postgres sslmode=require`, /no pg_hba\.conf entry for host "127\.0\.0\.1", user "postgres", database "his", SSL encryption/);
  refused(`${base} user=postgres sslmode=disable`, /no pg_hba\.conf entry .*user "postgres".*no encryption/);
  refused(`host=127.0.0.1 port=${port} dbname=postgres user=his_replication password=${pw} sslmode=require`,
    /no pg_hba\.conf entry .*database "postgres"/);
  refused(`${base} user=his_replication password=not-${pw} sslmode=require`, /password authentication failed for user "his_replication"/);
  refused(`${base} user=his_replication password=${pw} sslmode=verify-full sslrootcert=${tls}/other.crt`, /certificate verify failed/);
  // Least privilege: reads the published tables, writes nothing, no accounts.
  const ins = tcp(good, `INSERT INTO clinical.visits (patient_id, kind) SELECT id, 'outpatient' FROM clinical.patients LIMIT 1`);
  assert.notEqual(ins.status, 0);
  assert.match(ins.stderr, /permission denied for table visits/);
  const users = tcp(good, 'SELECT count(*) FROM core.users');
  assert.notEqual(users.status, 0);
  assert.match(users.stderr, /permission denied for table users/);
  const read = tcp(good, 'SELECT count(*) FROM clinical.visits');
  assert.equal(read.status, 0, read.stderr);
  assert.ok(Number(read.stdout) >= 1);
});
