// Issue 9 point 3: a mixed load (logins, patient search, new visits with diagnoses, prescriptions, dispensings,
// inbound ADT over MLLP) while `his serve` is killed with SIGKILL at random moments and restarted on the same
// database. After each restart every request answered 2xx and every message answered AA is in the database exactly
// once; requests left without an answer by the kill are sent again with the same Idempotency-Key (messages with the
// same MSH-10) and must not make a second row. At the end every outbox row reached `his portal-sim` (prescriptions,
// dispensing invoices) and a small MLLP peer standing for the referral target 19001 (ADT events) exactly once, and
// `his audit verify` passes.
// HIS_FAULT_KILLS (default 5; bench/fault_kill.sh runs 20), HIS_FAULT_ROUND_MS (longest time before a kill, default
// 5000), HIS_FAULT_REPORT (a file for the figures as JSON).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { startServer, createDatabase, conninfo, psql, BIN, Client } from '../lib/server.mjs';
import { MllpClient, field } from '../lib/mllp.mjs';

const KILLS = Number(process.env.HIS_FAULT_KILLS || 5);
const ROUND_MS = Number(process.env.HIS_FAULT_ROUND_MS || 5000);
const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f(); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function until(what, fn, ms = 90000, step = 200) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(step);
  }
}

async function startSim() {
  const proc = spawn(BIN, ['portal-sim', '--listen', '127.0.0.1:0', '--latency-ms', '15'], {
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr.resume();
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => { out += d; const m = out.match(/listening on (http:\/\/\S+?)\/?\n/); if (m) resolve(m[1]); });
    proc.on('exit', (c) => reject(new Error('portal-sim exited ' + c)));
  });
  cleanup.push(() => new Promise((r) => { if (proc.exitCode !== null || proc.signalCode !== null) return r(); proc.on('exit', r); proc.kill('SIGTERM'); }));
  return { url, received: async (kind) => (await fetch(`${url}/_sim/received?kind=${kind}`)).json() };
}

// The referral target's MLLP listener: records every MSH-10 it is sent and answers AA.
async function startPeer() {
  const sends = new Map();
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const s = buf.indexOf(0x0b), e = buf.indexOf(0x1c);
        if (s < 0 || e < s || buf.length < e + 2) break;
        const msg = buf.subarray(s + 1, e).toString('utf8');
        buf = buf.subarray(e + 2);
        const ctl = field(msg, 'MSH', 10);
        sends.set(ctl, (sends.get(ctl) || 0) + 1);
        const ack = `MSH|^~\\&|PEER|19001|HIS|${field(msg, 'MSH', 4)}|20260301000000||ACK|A${ctl}|P|2.5\rMSA|AA|${ctl}`;
        sock.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(ack), Buffer.from([0x1c, 0x0d])]));
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  return { port: server.address().port, sends };
}

const digits = (n) => Array.from({ length: n }, () => randomInt(10)).join('');

function adtA04(ctl) {
  const cccd = '0191' + digits(8);
  const card = 'GD419' + digits(10);
  return {
    ctl, cccd,
    text: [
      `MSH|^~\\&|LIS|19020|HIS|19010|20260301083000||ADT^A04^ADT_A01|${ctl}|P|2.5|||||||UNICODE UTF-8`,
      'EVN|A04|20260301083000',
      `PID|1||BN${digits(8)}^^^19020^MR~${cccd}^^^VNM^NI~${card}^^^VSS^HC||Hoàng^Thị Mai||19850312|F|||Số 12 đường Lương Ngọc Quyến^Xóm Đồng Tâm^05935^19^^VNM||0912345678|||||||||02`,
      'PV1|1|N',
      `IN1|1|BHYT|VSS|||||||||20260101|20261231||||||||||||||||||||||19010|${card}`,
    ].join('\r'),
  };
}

test(`mixed load with ${KILLS} SIGKILLs: every acknowledged request and message exactly once, outbox delivered exactly once, audit chain verifies`, async () => {
  const sim = await startSim();
  const peer = await startPeer();
  const hl7port = await freePort();
  const db = createDatabase();
  const sql = (q) => psql(db, q);
  // The demo seed's outbox rows: delivered or refused long ago, except a few still waiting (which this run's
  // server sends too). The checks below are about this run's rows and those.
  const seedMax = sql(`SELECT coalesce(max(id), 0) FROM core.outbox`);
  const seedWaiting = sql(`SELECT string_agg(id::text, ',') FROM core.outbox WHERE state IN ('queued', 'sent')`);
  const ours = `(id > ${seedMax}${seedWaiting ? ` OR id IN (${seedWaiting})` : ''})`;
  const peerAdd = spawnSync(BIN, ['hl7', 'peer', 'add', '--code', '19001', '--host', `127.0.0.1:${peer.port}`, '--events', 'adt',
    '--database-url', conninfo(db)], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  assert.equal(peerAdd.status, 0, peerAdd.stderr);
  // Enough stock of T0001 at 19010 for any number of dispensings.
  sql(`WITH f AS (SELECT id FROM core.facilities WHERE code = '19010'),
        l AS (INSERT INTO pharmacy.stock_lots (facility_id, drug_code, lot, expiry, quantity, unit_price)
              SELECT id, 'T0001', 'FAULT1', current_date + 400, 1000000, 450 FROM f RETURNING id, facility_id, quantity)
        INSERT INTO pharmacy.stock_moves (facility_id, lot_id, kind, quantity) SELECT facility_id, id, 'receipt', quantity FROM l`);
  const patients = sql(`SELECT p.id FROM clinical.patients p JOIN core.facilities f ON f.id = p.facility_id
                        WHERE f.code = '19010' AND p.birth_date < '2000-01-01' ORDER BY p.id LIMIT 50`).split('\n').map(Number);
  const run = randomBytes(3).toString('hex');
  const env = { HIS_RX_PORTAL_URL: sim.url, HIS_PHARMACY_PORTAL_URL: sim.url, HIS_OUTBOX_BACKOFF_MAX_MS: '500',
    HIS_HL7_ACK_TIMEOUT_MS: '3000' };
  const args = ['--hl7-listen', `127.0.0.1:${hl7port}`];

  // Client-side record of what was acknowledged.
  const cases = [];           // {key, step, visitId, rxCode, invoice, reason}
  const pending = [];         // cases whose last request got no answer
  const hl7Acked = [];        // {ctl, cccd}
  const hl7Pending = [];
  const tokens = [];          // tokens of acknowledged logins
  const counts = { requests_acked: 0, requests_unanswered: 0, retried_acked: 0, searches: 0, logins: 0, hl7_acked: 0,
    hl7_unanswered: 0, unexpected: [] };
  let srv = null;
  let doctor, pharmacist;
  let live = false;

  const isNet = (e) => e && (e.name === 'TypeError' || e.code === 'ECONNRESET' || e.cause);
  // One step of a case; true when acknowledged, false when unanswered (the server died), throws on a 4xx.
  async function step(c, retry = false) {
    const h = (k) => ({ 'Idempotency-Key': `${c.key}-${k}` });
    let r;
    try {
      if (c.step === 'visit') {
        r = await doctor.post('/api/v1/visits', { patient_id: c.patient, kind: c.kind, reason: c.reason }, h('v'));
        if (r.status === 201) { c.visitId = r.json.id; c.step = 'diag'; }
      } else if (c.step === 'diag') {
        const g = await doctor.get(`/api/v1/visits/${c.visitId}`);
        if (g.status === 200 && g.json.diagnoses?.length) { c.step = 'rx'; return true; }
        r = g.status !== 200 ? g : await doctor.patch(`/api/v1/visits/${c.visitId}`,
          { diagnoses: [{ icd10: 'J06.9', primary: true }] }, { 'If-Match': g.headers.get('etag') });
        if (r.status === 200) c.step = 'rx';
      } else if (c.step === 'rx') {
        r = await doctor.post(`/api/v1/visits/${c.visitId}/prescriptions`,
          { type: 'C', items: [{ drug_code: 'T0001', quantity: 2, unit: 'viên', dosage: 'Uống 1 viên x 2 lần/ngày', days: 1 }] }, h('rx'));
        if (r.status === 201) { c.rxCode = r.json.code; c.step = 'disp'; }
      } else if (c.step === 'disp') {
        r = await pharmacist.post(`/api/v1/prescriptions/${c.rxCode}/dispensings`, { items: [{ drug_code: 'T0001', quantity: 2 }] }, h('d'));
        if (r.status === 201 || r.status === 200) { c.invoice = r.json.invoice_code; c.step = 'done'; }
      }
    } catch (e) {
      if (!isNet(e)) throw e;
      counts.requests_unanswered++;
      return false;
    }
    if (r.status >= 200 && r.status < 300) {
      counts.requests_acked++;
      if (retry) counts.retried_acked++;
      return true;
    }
    if (r.status >= 500) return false; // starting or stopping: try again later
    counts.unexpected.push(`${c.step} ${r.status} ${r.text.slice(0, 200)}`);
    c.step = 'failed';
    return true;
  }

  async function clinicalWorker() {
    while (live) {
      const c = { key: `fk-${run}-${cases.length}`, step: 'visit', patient: patients[randomInt(patients.length)],
        kind: randomInt(2) ? 'inpatient' : 'outpatient', reason: `fault ${run} ${cases.length}` };
      cases.push(c);
      while (live && c.step !== 'done' && c.step !== 'failed') {
        if (!await step(c)) { if (!pending.includes(c)) pending.push(c); break; }
      }
    }
  }
  async function readWorker() {
    while (live) {
      try {
        const q = ['Nguyen', 'Tran Van', 'Le Thi', 'Hoang'][randomInt(4)];
        const r = await doctor.get('/api/v1/patients?q=' + encodeURIComponent(q));
        if (r.status === 200) counts.searches++;
        const l = await srv.anon().post('/api/v1/auth/login', { username: ['bs.an', 'dd.hoa', 'ds.lan'][randomInt(3)], password: 'Demo@2026' });
        if (l.status === 200) { counts.logins++; tokens.push(l.json.token); }
      } catch (e) { if (!isNet(e)) throw e; await sleep(50); }
    }
  }
  async function sendHl7(m) {
    let c;
    try {
      c = await MllpClient.connect(hl7port, { timeoutMs: 5000 });
      const ack = await c.send(m.text);
      if (ack && field(ack, 'MSA', 1) === 'AA' && field(ack, 'MSA', 2) === m.ctl) return true;
      if (ack) { counts.unexpected.push('hl7 ' + ack.replace(/\r/g, ' ')); return true; }
      return false;
    } catch { return false; } finally { c?.destroy(); }
  }
  async function hl7Worker() {
    while (live) {
      const m = adtA04(`FK${run}-${hl7Acked.length + hl7Pending.length}`);
      if (await sendHl7(m)) { hl7Acked.push(m); counts.hl7_acked++; } else { hl7Pending.push(m); counts.hl7_unanswered++; await sleep(50); }
    }
  }

  async function start() {
    srv = await startServer({ db, env, args });
    doctor = await srv.login('bs.an');
    pharmacist = await srv.login('ds.lan');
  }

  // What was acknowledged so far is in the database exactly once.
  function checkAcknowledged() {
    const done = (s) => cases.filter((c) => c.visitId && s(c));
    const byReason = new Map(sql(`SELECT reason || '|' || count(*) FROM clinical.visits WHERE reason LIKE 'fault ${run} %' GROUP BY reason`)
      .split('\n').filter(Boolean).map((l) => l.split('|')).map(([k, v]) => [k, Number(v)]));
    const rxPerVisit = new Map(sql(`SELECT visit_id || '|' || count(*) FROM pharmacy.prescriptions p JOIN clinical.visits v ON v.id = p.visit_id
                                    WHERE v.reason LIKE 'fault ${run} %' GROUP BY visit_id`)
      .split('\n').filter(Boolean).map((l) => l.split('|').map(Number)));
    const dispPerRx = new Map(sql(`SELECT p.code || '|' || count(*) FROM pharmacy.dispensings d JOIN pharmacy.prescriptions p ON p.id = d.prescription_id
                                   JOIN clinical.visits v ON v.id = p.visit_id WHERE v.reason LIKE 'fault ${run} %' GROUP BY p.code`)
      .split('\n').filter(Boolean).map((l) => l.split('|')).map(([k, v]) => [k, Number(v)]));
    let found = 0, dup = 0, missing = [];
    const see = (n, what) => { if (n === 1) found++; else if (n > 1) { dup++; missing.push(`${what} ${n} times`); } else missing.push(`${what} missing`); };
    for (const c of done(() => true)) see(byReason.get(c.reason) || 0, `visit "${c.reason}"`);
    const diagPerVisit = new Map(sql(`SELECT d.visit_id || '|' || count(*) FROM clinical.visit_diagnoses d JOIN clinical.visits v ON v.id = d.visit_id
                                      WHERE v.reason LIKE 'fault ${run} %' GROUP BY d.visit_id`)
      .split('\n').filter(Boolean).map((l) => l.split('|').map(Number)));
    for (const c of done((c) => !['visit', 'diag'].includes(c.step) || c.rxCode)) see(diagPerVisit.get(c.visitId) || 0, `diagnosis of visit ${c.visitId}`);
    for (const c of done((c) => c.rxCode)) see(rxPerVisit.get(c.visitId) || 0, `prescription of visit ${c.visitId}`);
    for (const c of done((c) => c.invoice)) see(dispPerRx.get(c.rxCode) || 0, `dispensing of ${c.rxCode}`);
    const msgs = new Map(sql(`SELECT control_id || '|' || count(*) FROM hl7.messages WHERE control_id LIKE 'FK${run}-%' GROUP BY control_id`)
      .split('\n').filter(Boolean).map((l) => l.split('|')).map(([k, v]) => [k, Number(v)]));
    for (const m of hl7Acked) see(msgs.get(m.ctl) || 0, `HL7 ${m.ctl}`);
    return { found, dup, missing };
  }

  const figures = { kills: 0, rounds: [] };
  await start();
  for (let k = 0; k < KILLS; k++) {
    live = true;
    const workers = [clinicalWorker(), clinicalWorker(), readWorker(), hl7Worker()];
    await sleep(700 + randomInt(Math.max(1, ROUND_MS - 700)));
    const died = new Promise((r) => srv.proc.once('exit', r));
    srv.proc.kill('SIGKILL');
    await died;
    figures.kills++;
    live = false;
    await Promise.all(workers);
    await start();
    // Requests left without an answer: again, with the same keys / MSH-10.
    for (const c of pending.splice(0)) {
      let first = true;
      while (c.step !== 'done' && c.step !== 'failed') {
        if (!await step(c, first)) { await sleep(200); continue; }
        first = false;
      }
    }
    for (const m of hl7Pending.splice(0)) {
      while (!await sendHl7(m)) await sleep(200);
      hl7Acked.push(m); counts.hl7_acked++;
    }
    const chk = checkAcknowledged();
    figures.rounds.push({ acknowledged: counts.requests_acked + counts.hl7_acked, found: chk.found, duplicates: chk.dup });
    assert.deepEqual(chk.missing, [], `after kill ${k + 1}`);
    assert.equal(chk.dup, 0);
  }
  // Sessions of acknowledged logins survived the kills.
  let sessionsOk = 0;
  for (const t of tokens) if ((await new Client(srv.url, t).get('/api/v1/auth/me')).status === 200) sessionsOk++;
  assert.equal(sessionsOk, tokens.length, 'acknowledged logins still valid');

  // Every acknowledged HL7 message processed: one patient per CCCD.
  await until('HL7 processing', () => sql(`SELECT count(*) FROM hl7.messages WHERE control_id LIKE 'FK${run}-%' AND state <> 'processed'`) === '0');
  const perCccd = new Map(sql(`SELECT cccd || '|' || count(*) FROM clinical.patients WHERE cccd IN (${hl7Acked.map((m) => `'${m.cccd}'`).join(',') || "''"}) GROUP BY cccd`)
    .split('\n').filter(Boolean).map((l) => l.split('|')).map(([k, v]) => [k, Number(v)]));
  for (const m of hl7Acked) assert.equal(perCccd.get(m.cccd), 1, `patient of ${m.ctl}`);

  // The outbox drains; each row arrived exactly once at its receiver.
  const targets = `('prescription-portal', 'pharmacy-portal', 'hl7:19001')`;
  await until('outbox delivery', () => sql(`SELECT count(*) FROM core.outbox WHERE target IN ${targets} AND state <> 'acknowledged' AND ${ours}`) === '0', 120000);
  const rows = sql(`SELECT target || '|' || dedupe_key FROM core.outbox WHERE target IN ${targets} AND ${ours}`).split('\n').filter(Boolean).map((l) => l.split('|'));
  const outbox = { prescriptions: 0, invoices: 0, hl7: 0, resent: 0 };
  const got = { prescription: await sim.received('prescription'), dispensing: await sim.received('dispensing') };
  const byKind = (kind) => new Map(got[kind].map((x) => [x.code, x]));
  const rxGot = byKind('prescription'), invGot = byKind('dispensing');
  for (const [target, key] of rows) {
    if (target === 'hl7:19001') {
      assert.ok(peer.sends.has(key), `${key} never reached the HL7 peer`);
      outbox.hl7++;
      if (peer.sends.get(key) > 1) outbox.resent++;
      continue;
    }
    const x = (target === 'prescription-portal' ? rxGot : invGot).get(key);
    assert.ok(x, `${target} ${key} never arrived`);
    assert.equal(x.count, 1, `${target} ${key} accepted ${x.count} times`);
    if (x.sends > 1) outbox.resent++;
    if (target === 'prescription-portal') outbox.prescriptions++; else outbox.invoices++;
  }
  // Nothing arrived that is not in the outbox (no message made twice under two keys).
  assert.equal(got.prescription.length, outbox.prescriptions);
  assert.equal(got.dispensing.length, outbox.invoices);
  assert.equal(peer.sends.size, outbox.hl7);
  // One prescription row per acknowledged prescription code in the outbox, one invoice per dispensing.
  for (const c of cases.filter((c) => c.rxCode)) assert.ok(rxGot.has(c.rxCode), `${c.rxCode} at the portal`);
  for (const c of cases.filter((c) => c.invoice)) assert.ok(invGot.has(c.invoice), `${c.invoice} at the portal`);

  await srv.stop();
  const v = spawnSync(BIN, ['audit', 'verify', '--database-url', conninfo(db)], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  assert.equal(v.status, 0, v.stderr + v.stdout);

  const last = figures.rounds[figures.rounds.length - 1];
  const report = { kills: figures.kills, requests_acknowledged: counts.requests_acked, hl7_acknowledged: counts.hl7_acked,
    found_after_restart: last.found, duplicates: last.duplicates, unanswered_then_resent: counts.requests_unanswered + counts.hl7_unanswered,
    resent_acknowledged: counts.retried_acked, logins: counts.logins, searches: counts.searches, outbox_prescriptions: outbox.prescriptions,
    outbox_invoices: outbox.invoices, outbox_hl7: outbox.hl7, outbox_sent_more_than_once_deduped: outbox.resent, unexpected_4xx: counts.unexpected.length };
  console.log('fault_kill figures ' + JSON.stringify(report));
  if (process.env.HIS_FAULT_REPORT) writeFileSync(process.env.HIS_FAULT_REPORT, JSON.stringify({ ...report, rounds: figures.rounds, unexpected: counts.unexpected }, null, 1));
  assert.deepEqual(counts.unexpected, [], 'unexpected answers');
});
