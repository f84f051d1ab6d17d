// Issue 9 point 4: PostgreSQL stopped and restarted under load (requests during the outage get 503 with
// Retry-After, /readyz says so, the server reconnects by itself, the outbox workers and the HL7 processor carry
// on afterwards), and a full disk under PostgreSQL's data directory (a small tmpfs mounted for it: clear 507
// problem+json answers, nothing half written, recovery once space returns, audit chain intact).
// Both on one private cluster (tests/lib/pgcluster.sh), so the template database is not touched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { BIN, Client } from '../lib/server.mjs';
import { MllpClient, field } from '../lib/mllp.mjs';

const script = new URL('../lib/pgcluster.sh', import.meta.url).pathname;
const NOLEAK = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let dir, host, dbUrl, mounted = false, mountSkip = null;
const procs = [];

const pg = (cmd) => execFileSync(script, [cmd, dir], { encoding: 'utf8' }).trim();
const sql = (q) => execFileSync('psql', ['-h', host, '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', q], { encoding: 'utf8' }).trim();
const his = (args) => spawnSync(BIN, args, { encoding: 'utf8', env: NOLEAK });

async function until(what, fn, ms = 60000, step = 200) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(step);
  }
}
async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
function spawnLine(args, re, env = {}) {
  const proc = spawn(BIN, args, { env: { ...NOLEAK, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; if (err.length > 200000) err = err.slice(-100000); });
  procs.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => { out += d; const m = out.match(re); if (m) resolve({ proc, url: m[1], stderr: () => err }); });
    proc.on('exit', (c) => reject(new Error(`${args[0]} exited ${c}: ${err}`)));
  });
}
const alive = (p) => p.exitCode === null && p.signalCode === null;
const stop = (p) => new Promise((r) => { if (!alive(p)) return r(); p.on('exit', r); p.kill('SIGTERM'); });

before(() => {
  dir = mkdtempSync('/tmp/his-pgfault-');
  host = pg('start');
  dbUrl = `host=${host} user=postgres dbname=postgres`;
  assert.equal(his(['db', 'migrate', '--database-url', dbUrl]).status, 0);
  assert.equal(his(['seed', 'demo', '--database-url', dbUrl]).status, 0);
  // Move the data directory onto a small tmpfs (the used size plus 40 MiB) for the full-disk part.
  pg('stop');
  const used = Number(execFileSync('du', ['-sm', `${dir}/data`], { encoding: 'utf8' }).split('\t')[0]);
  const uid = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
  execFileSync('mv', [`${dir}/data`, `${dir}/data.disk`]);
  execFileSync('mkdir', [`${dir}/data`]);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${used + 40}m,mode=0700,uid=${uid},gid=${uid}`, 'tmpfs', `${dir}/data`], { encoding: 'utf8' });
  if (m.status === 0) {
    mounted = true;
    execFileSync('cp', ['-a', `${dir}/data.disk/.`, `${dir}/data/`]);
  } else {
    mountSkip = `cannot mount a tmpfs for the data directory here (${(m.stderr || m.error?.message || '').trim()}): the full-disk test is skipped`;
    execFileSync('rmdir', [`${dir}/data`]);
    execFileSync('mv', [`${dir}/data.disk`, `${dir}/data`]);
  }
  rmSync(`${dir}/data.disk`, { recursive: true, force: true });
  host = pg('start');
});

after(async () => {
  for (const p of procs) await stop(p);
  try { pg('stop'); } catch { /* already down */ }
  if (mounted) spawnSync('umount', [`${dir}/data`]);
  rmSync(dir, { recursive: true, force: true });
});

async function login(url, username) {
  const c = new Client(url);
  const r = await c.post('/api/v1/auth/login', { username, password: 'Demo@2026' });
  assert.equal(r.status, 200, r.text);
  c.token = r.json.token;
  return c;
}

const digits = (n) => Array.from({ length: n }, () => randomInt(10)).join('');
function adt(ctl) {
  const cccd = '0192' + digits(8), card = 'GD419' + digits(10);
  return { ctl, cccd, text: [
    `MSH|^~\\&|LIS|19020|HIS|19010|20260301083000||ADT^A04^ADT_A01|${ctl}|P|2.5|||||||UNICODE UTF-8`,
    'EVN|A04|20260301083000',
    `PID|1||BN${digits(8)}^^^19020^MR~${cccd}^^^VNM^NI~${card}^^^VSS^HC||Đỗ^Văn Nam||19800101|M|||Số 3^Xóm Cầu^05935^19^^VNM||0912000111`,
    'PV1|1|N',
  ].join('\r') };
}
async function sendAdt(port, m) {
  let c;
  try {
    c = await MllpClient.connect(port, { timeoutMs: 4000 });
    const ack = await c.send(m.text);
    return ack ? field(ack, 'MSA', 1) : null;
  } catch { return null; } finally { c?.destroy(); }
}

test('PostgreSQL stopped and restarted under load: 503 with Retry-After, /readyz, reconnection, workers carry on', async () => {
  const sim = await spawnLine(['portal-sim', '--listen', '127.0.0.1:0'], /listening on (http:\/\/\S+?)\/?\n/);
  const hl7port = await freePort();
  const s = await spawnLine(['serve', '--database-url', dbUrl, '--listen', '127.0.0.1:0', '--threads', '4', '--db-pool', '6',
    '--hl7-listen', `127.0.0.1:${hl7port}`], /serving on (http:\/\/\S+?)\/?\n/,
  { HIS_RX_PORTAL_URL: sim.url, HIS_PHARMACY_PORTAL_URL: sim.url, HIS_OUTBOX_BACKOFF_MAX_MS: '500' });
  const doctor = await login(s.url, 'bs.an');
  const anon = new Client(s.url);
  const pid = Number(sql(`SELECT p.id FROM clinical.patients p JOIN core.facilities f ON f.id = p.facility_id WHERE f.code = '19010' ORDER BY p.id LIMIT 1`));
  const run = randomBytes(3).toString('hex');
  const acked = [], answers = new Map(), hl7 = [];
  let n = 0, live = true, phase = 'before';
  const tally = (st) => answers.set(`${phase} ${st}`, (answers.get(`${phase} ${st}`) || 0) + 1);
  const bad = [];
  async function load() {
    while (live) {
      const reason = `outage ${run} ${n++}`;
      try {
        const r = await doctor.post('/api/v1/visits', { patient_id: pid, kind: 'outpatient', reason }, { 'Idempotency-Key': reason });
        tally(r.status);
        if (r.status === 201) acked.push(reason);
        else if (r.status !== 503 || !r.headers.get('retry-after') || !r.headers.get('content-type')?.includes('problem+json')) bad.push(`${r.status} ${r.text}`);
        const g = await doctor.get('/api/v1/patients?q=Nguyen');
        tally(g.status);
        if (g.status !== 200 && (g.status !== 503 || !g.headers.get('retry-after'))) bad.push(`search ${g.status} ${g.text}`);
      } catch (e) { bad.push('no answer: ' + e.message); }
      await sleep(20);
    }
  }
  async function hl7load() {
    while (live) {
      const m = adt(`PGO${run}-${hl7.length}`);
      const code = await sendAdt(hl7port, m);
      hl7.push({ ...m, code, phase });
      await sleep(50);
    }
  }
  const workers = [load(), load(), hl7load()];
  await sleep(1500);
  assert.equal((await anon.get('/readyz')).status, 200);
  phase = 'outage';
  pg('stop');
  await sleep(300);
  const down = await anon.get('/readyz');
  assert.equal(down.status, 503);
  assert.equal(down.json.database, 'unreachable');
  assert.equal((await anon.get('/healthz')).status, 200);
  await sleep(2000);
  host = pg('start');
  phase = 'after';
  await until('readyz back', async () => (await anon.get('/readyz')).status === 200, 30000);
  await sleep(2000);
  live = false;
  await Promise.all(workers);
  assert.deepEqual(bad, [], 'only 201/200 or 503 with Retry-After');
  assert.ok(answers.get('outage 503') > 0, 'requests during the outage got 503: ' + JSON.stringify([...answers]));
  assert.ok(answers.get('after 201') > 0, 'writes after the restart succeed');
  assert.ok(alive(s.proc), 'his serve still running');
  // Each acknowledged visit exactly once.
  const rows = new Map(sql(`SELECT reason || '|' || count(*) FROM clinical.visits WHERE reason LIKE 'outage ${run} %' GROUP BY reason`)
    .split('\n').filter(Boolean).map((l) => l.split('|')));
  for (const r of acked) assert.equal(rows.get(r), '1', r);
  // Every AA message stored once and processed (the HL7 processor survived); none during the outage was AA'd unstored.
  const aa = hl7.filter((m) => m.code === 'AA');
  assert.ok(aa.some((m) => m.phase === 'after'), 'messages accepted after the restart');
  await until('HL7 processing after the outage', () => sql(`SELECT count(*) FROM hl7.messages WHERE control_id IN (${aa.map((m) => `'${m.ctl}'`).join(',')}) AND state = 'processed'`) === String(aa.length));
  // The outbox workers carry on: prescriptions issued now reach the portal.
  const vid = Number(sql(`SELECT id FROM clinical.visits WHERE reason = '${acked[acked.length - 1]}'`));
  sql(`INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary) SELECT id, facility_id, 0, 'J06.9', true FROM clinical.visits WHERE id = ${vid}`);
  const rx = await doctor.post(`/api/v1/visits/${vid}/prescriptions`, { type: 'C', items: [{ drug_code: 'T0001', quantity: 2, unit: 'viên', dosage: 'Uống 1 viên x 2 lần/ngày', days: 1 }] });
  assert.equal(rx.status, 201, rx.text);
  await until('delivery after the outage', async () => (await (await fetch(`${sim.url}/_sim/received?kind=prescription`)).json()).some((x) => x.code === rx.json.code), 30000);
  console.log('pg_outage answers ' + JSON.stringify(Object.fromEntries(answers)) + ` hl7: ${aa.length} AA of ${hl7.length}`);
  await stop(s.proc);
  await stop(sim.proc);
});

test('a full disk under the PostgreSQL data directory: 507 problem+json, nothing half written, recovery, audit verifies', async (t) => {
  if (!mounted) { console.log(mountSkip); t.skip(mountSkip); return; }
  const s = await spawnLine(['serve', '--database-url', dbUrl, '--listen', '127.0.0.1:0', '--threads', '2', '--db-pool', '4'],
    /serving on (http:\/\/\S+?)\/?\n/);
  const doctor = await login(s.url, 'bs.an');
  const pid = Number(sql(`SELECT p.id FROM clinical.patients p JOIN core.facilities f ON f.id = p.facility_id WHERE f.code = '19010' ORDER BY p.id LIMIT 1`));
  const run = randomBytes(3).toString('hex');
  const body = (reason) => ({ patient_id: pid, kind: 'outpatient', reason });
  // Fill the file system.
  spawnSync('dd', ['if=/dev/zero', `of=${dir}/data/filler`, 'bs=1M'], { encoding: 'utf8' });
  spawnSync('dd', ['if=/dev/zero', `of=${dir}/data/filler2`, 'bs=4k'], { encoding: 'utf8' });
  const acked = [], refused = [];
  let other = [];
  for (let i = 0; i < 3000 && refused.length < 5; i++) {
    const reason = `disk ${run} ${i}`;
    const r = await doctor.post('/api/v1/visits', body(reason), { 'Idempotency-Key': reason });
    if (r.status === 201) acked.push(reason);
    else if (r.status === 507 || r.status === 503) {
      assert.ok(r.headers.get('content-type').includes('application/problem+json'), r.headers.get('content-type'));
      assert.ok(r.json?.title || r.json?.detail, r.text);
      refused.push({ reason, status: r.status, text: r.text });
    } else other.push(`${r.status} ${r.text}`);
  }
  console.log(`full disk: ${acked.length} accepted before the disk filled, then ${refused.map((x) => x.status).join(',')}: ${refused[0]?.text}`);
  assert.deepEqual(other, [], 'no 500 or other answers');
  assert.ok(refused.length > 0, 'writes refused when the disk is full');
  assert.ok(refused.some((x) => x.status === 507 && /disk|storage|dung lượng/i.test(x.text)) || refused.every((x) => x.status === 503),
    'a clear message: ' + refused[0].text);
  // Free the space; PostgreSQL may have stopped itself (a WAL write that failed): start it again then.
  rmSync(`${dir}/data/filler`, { force: true });
  rmSync(`${dir}/data/filler2`, { force: true });
  const st = spawnSync('bash', ['-c', `runuser -u postgres -- $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl -D ${dir}/data status`]);
  if (st.status !== 0) host = pg('start');
  await until('readyz after space returns', async () => (await new Client(s.url).get('/readyz')).status === 200, 30000);
  assert.ok(alive(s.proc), 'his serve still running');
  // Nothing half written: refused requests left no row; sent again with the same key, each is there once.
  for (const x of refused) assert.equal(sql(`SELECT count(*) FROM clinical.visits WHERE reason = '${x.reason}'`), '0', x.reason);
  for (const x of refused) {
    const r = await doctor.post('/api/v1/visits', body(x.reason), { 'Idempotency-Key': x.reason });
    assert.equal(r.status, 201, r.text);
    acked.push(x.reason);
  }
  const rows = new Map(sql(`SELECT reason || '|' || count(*) FROM clinical.visits WHERE reason LIKE 'disk ${run} %' GROUP BY reason`)
    .split('\n').filter(Boolean).map((l) => l.split('|')));
  for (const r of acked) assert.equal(rows.get(r), '1', r);
  assert.equal(rows.size, acked.length);
  await stop(s.proc);
  const v = his(['audit', 'verify', '--database-url', dbUrl]);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(readdirSync(`${dir}/data`).includes('filler'), false);
});
