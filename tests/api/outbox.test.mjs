// Issue 5 points 3 and 7: the durable outbox against `his portal-sim` — not configured (stays queued, the API
// says so), full outage (prescriptions keep being issued, queue, and all arrive exactly once when it returns),
// SIGKILL of the server during the push (restart on the same database: nothing lost, nothing duplicated), a
// rejection with the portal's error list shown on the prescription and in the outbox, token renewal, 5xx and
// dropped answers retried and deduplicated.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startServer, BIN, Client, DEMO_PASSWORD } from '../lib/server.mjs';

const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f(); });

function waitLine(proc, re, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${err}`)), 30000);
    proc.stderr.on('data', (d) => { err += d; if (err.length > 100000) err = err.slice(-50000); });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(re);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited ${code}: ${err}`)); });
  });
}

async function startSim(args = []) {
  const proc = spawn(BIN, ['portal-sim', '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await waitLine(proc, /listening on (http:\/\/\S+?)\/?\n/, 'portal-sim');
  const call = async (method, path, body) => {
    const r = await fetch(url + path, { method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
    return r.json();
  };
  const sim = {
    url, proc,
    control: (b) => call('POST', '/_sim/control', b),
    received: (kind = 'prescription') => call('GET', `/_sim/received?kind=${kind}`),
    stop: () => new Promise((r) => { if (proc.exitCode !== null || proc.signalCode !== null) return r(); proc.on('exit', r); proc.kill('SIGTERM'); }),
  };
  cleanup.push(sim.stop);
  return sim;
}

const portalEnv = (sim) => ({ HIS_RX_PORTAL_URL: sim.url, HIS_PHARMACY_PORTAL_URL: sim.url, HIS_OUTBOX_BACKOFF_MAX_MS: '500' });

// his serve on an existing database (the restart after SIGKILL).
async function serveOn(dbUrl, env) {
  const proc = spawn(BIN, ['serve', '--database-url', dbUrl, '--listen', '127.0.0.1:0', '--threads', '4', '--db-pool', '8'], {
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await waitLine(proc, /serving on (http:\/\/\S+?)\/?\n/, 'his serve');
  const s = {
    url, proc,
    async login(username) {
      const c = new Client(url);
      const r = await c.post('/api/v1/auth/login', { username, password: DEMO_PASSWORD });
      c.token = r.json.token;
      return c;
    },
    stop: () => new Promise((r) => { if (proc.exitCode !== null || proc.signalCode !== null) return r(); proc.on('exit', r); proc.kill('SIGTERM'); }),
  };
  cleanup.push(s.stop);
  return s;
}

function newVisit(srv, icd10 = ['J06.9']) {
  const fid = srv.sql(`SELECT id FROM core.facilities WHERE code = '19010'`);
  const pid = srv.sql(`SELECT id FROM clinical.patients WHERE facility_id = ${fid} AND birth_date < '2000-01-01' ORDER BY id LIMIT 1 OFFSET ${Math.floor(Math.random() * 20)}`);
  const ma = 'OB' + randomBytes(6).toString('hex').toUpperCase();
  const vid = srv.sql(`INSERT INTO clinical.visits (facility_id, patient_id, ma_lk, kind) VALUES (${fid}, ${pid}, '${ma}', 'outpatient') RETURNING id`);
  icd10.forEach((c, i) => srv.sql(`INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary) VALUES (${vid}, ${fid}, ${i}, '${c}', ${i === 0})`));
  return Number(vid);
}

const RX = { type: 'C', items: [{ drug_code: 'T0001', quantity: 10, unit: 'viên', dosage: 'Uống 1 viên x 2 lần/ngày', days: 5 }] };

async function issueMany(srv, doctor, n) {
  const codes = [];
  for (let i = 0; i < n; i++) {
    const r = await doctor.post(`/api/v1/visits/${newVisit(srv)}/prescriptions`, RX);
    assert.equal(r.status, 201, r.text);
    codes.push(r.json.code);
  }
  return codes;
}

async function until(fn, ms = 60000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

function exactlyOnce(received, codes) {
  const byCode = new Map(received.map((x) => [x.code, x]));
  for (const c of codes) {
    assert.ok(byCode.has(c), `${c} never arrived`);
    assert.equal(byCode.get(c).count, 1, `${c} accepted ${byCode.get(c).count} times`);
  }
  assert.equal(new Set(received.map((x) => x.code)).size, received.length, 'a code listed twice');
}

// The demo seed has prescriptions of its own in the outbox (most acknowledged, a few waiting): counts are of
// this test's codes, and a test that needs the portal to itself waits for the seed's waiting ones to go out.
const ackedOf = (srv, codes) => srv.sql(`SELECT count(*) FROM core.outbox WHERE target = 'prescription-portal'
  AND state = 'acknowledged' AND dedupe_key IN (${codes.map((c) => `'${c}'`).join(',')})`);
const mine = (received, codes) => received.filter((x) => codes.includes(x.code));

test('portal not configured: prescriptions are issued and stay queued; the API says the portal is not configured', async () => {
  const srv = await startServer();
  cleanup.push(() => srv.stop());
  const doctor = await srv.login('bs.an');
  const [code] = await issueMany(srv, doctor, 1);
  await new Promise((r) => setTimeout(r, 600));
  const g = await doctor.get(`/api/v1/prescriptions/${code}`);
  assert.equal(g.json.portal.state, 'queued');
  assert.equal(g.json.portal.configured, false);
  assert.ok(g.json.portal.message.length > 0);
  const o = await doctor.get('/api/v1/outbox?target=prescription-portal&state=queued');
  assert.equal(o.status, 200);
  assert.ok(o.json.items.some((x) => x.key === code && x.attempts === 0));
  assert.equal(o.json.targets['prescription-portal'].configured, false);
  assert.equal((await doctor.get('/api/v1/outbox?state=lost')).status, 422);
});

test('full outage: prescriptions keep being issued and queue; after it returns every one arrives exactly once', async () => {
  const sim = await startSim(['--outage']);
  const srv = await startServer({ env: portalEnv(sim) });
  cleanup.push(() => srv.stop());
  const doctor = await srv.login('bs.an');
  const codes = await issueMany(srv, doctor, 25);
  // The workers try, fail, and back off; the rows wait with the error.
  await until(async () => {
    const o = await doctor.get('/api/v1/outbox?target=prescription-portal&limit=200');
    return o.json.items.filter((x) => codes.includes(x.key)).every((x) => x.state === 'queued' && x.attempts >= 1 && x.last_error);
  }, 30000, 'failed attempts');
  assert.equal((await sim.received()).length, 0);
  const g = await doctor.get(`/api/v1/prescriptions/${codes[0]}`);
  assert.equal(g.json.portal.state, 'queued');
  assert.ok(g.json.portal.attempts >= 1);
  // More issued during the outage.
  codes.push(...await issueMany(srv, doctor, 5));
  await sim.control({ outage: false });
  await until(async () => ackedOf(srv, codes) === String(codes.length), 60000, 'delivery');
  exactlyOnce(await sim.received(), codes);
  assert.equal(mine(await sim.received(), codes).length, codes.length);
});

test('SIGKILL during the push loses none and duplicates none (restart on the same database)', async () => {
  // Slow portal that also loses some answers after accepting (the re-send must be deduped) and fails some with 5xx.
  const sim = await startSim(['--latency-ms', '40', '--drop-rate', '0.15', '--error-rate', '0.1']);
  const srv = await startServer({ env: { ...portalEnv(sim), HIS_RX_PORTAL_URL: 'http://127.0.0.1:9' } });
  cleanup.push(() => srv.stop());
  // Issue with the portal unreachable (a closed port), so all are queued when the real one is switched in.
  const doctor = await srv.login('bs.an');
  const codes = await issueMany(srv, doctor, 60);
  await srv.stop();
  const a = await serveOn(srv.dbUrl, portalEnv(sim));
  await until(async () => mine(await sim.received(), codes).length >= 10, 30000, 'the first deliveries');
  assert.equal(a.proc.exitCode, null, 'the server was still running before the kill');
  const killed = new Promise((r) => a.proc.on('exit', r));
  a.proc.kill('SIGKILL');
  await killed;
  const mid = mine(await sim.received(), codes);
  assert.ok(mid.length < codes.length, 'killed before the end of the push');
  const b = await serveOn(srv.dbUrl, portalEnv(sim));
  await until(async () => ackedOf(srv, codes) === String(codes.length), 90000, 'delivery after restart');
  const got = mine(await sim.received(), codes);
  exactlyOnce(await sim.received(), codes);
  assert.equal(got.length, codes.length);
  // Re-sends happened (dropped answers, the kill) and were absorbed by the portal's dedupe.
  const resent = got.filter((x) => x.sends > 1).length;
  assert.ok(resent >= 1, 'some answers were lost and re-sent');
  await b.stop();
});

test('a rejection with the portal error list is shown on the prescription and in the outbox', async () => {
  const sim = await startSim();
  const srv = await startServer({ env: portalEnv(sim) });
  cleanup.push(() => srv.stop());
  const doctor = await srv.login('bs.an');
  await until(async () => srv.sql(`SELECT count(*) FROM core.outbox WHERE target = 'prescription-portal' AND state IN ('queued', 'sent')`) === '0',
    30000, 'the demo seed\'s waiting prescriptions delivered');
  await sim.control({ reject_next: 1 });
  const [code] = await issueMany(srv, doctor, 1);
  const g = await until(async () => {
    const r = await doctor.get(`/api/v1/prescriptions/${code}`);
    return r.json.portal.state === 'error' && r;
  }, 20000, 'the rejection');
  assert.equal(g.json.portal.errors[0].field, 'chan_doan');
  assert.equal(g.json.portal.errors[0].code, 'CHAN_DOAN_KHONG_HOP_LE');
  assert.match(g.json.portal.errors[0].message, /Chẩn đoán/);
  assert.equal(g.json.portal.attempts, 1); // permanent: not retried
  const o = await doctor.get('/api/v1/outbox?target=prescription-portal&state=error');
  assert.ok(o.json.items.some((x) => x.key === code && x.errors.length === 1 && x.last_error));
  // The doctor replaces it; the replacement goes through.
  const vid = Number(srv.sql(`SELECT visit_id FROM pharmacy.prescriptions WHERE code = '${code}'`));
  const r = await doctor.post(`/api/v1/visits/${vid}/prescriptions`, { ...RX, replaces: code });
  assert.equal(r.status, 201, r.text);
  await until(async () => (await doctor.get(`/api/v1/prescriptions/${r.json.code}`)).json.portal.state === 'acknowledged');
  // An expired token is renewed by logging in again.
  await sim.control({ expire_tokens: true });
  const [code2] = await issueMany(srv, doctor, 1);
  await until(async () => (await doctor.get(`/api/v1/prescriptions/${code2}`)).json.portal.state === 'acknowledged', 20000, 'delivery with a new token');
  // A refused message can be queued again by hand (after fixing the cause); the portal now takes it.
  const id = o.json.items.find((x) => x.key === code).id;
  const rt = await doctor.post(`/api/v1/outbox/${id}/retry`, {});
  assert.equal(rt.status, 200);
  await until(async () => (await doctor.get(`/api/v1/prescriptions/${code}`)).json.portal.state === 'acknowledged');
  assert.equal((await doctor.post(`/api/v1/outbox/${id}/retry`, {})).status, 409);
  // Another facility's outbox is not visible.
  const binh = await srv.login('bs.binh');
  assert.ok(!(await binh.get('/api/v1/outbox?limit=200')).json.items.some((x) => x.key === code));
});
