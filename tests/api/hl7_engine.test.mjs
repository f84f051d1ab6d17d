// HL7 engine, issue 3 points 5, 6 and 8: the MLLP listener inside his serve
// (plain and TLS with client certificates), stored-before-ACK, duplicates,
// refused messages with ERR naming the field, framing errors and limits, and
// the processing of ADT into patients and visits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';
import { MllpClient, sendOne, fixture, field, frame } from '../lib/mllp.mjs';

const FIX = new URL('../fixtures/hl7/engine/', import.meta.url).pathname;
const fx = (name) => fixture(path.join(FIX, name + '.hl7'));
const expect = (name) => JSON.parse(readFileSync(path.join(FIX, name + '.expect.json'), 'utf8'));

export async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function until(fn, ms = 15000, step = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, step));
  }
}

async function hl7Server(extra = {}) {
  const port = await freePort();
  const s = await startServer({ ...extra, args: ['--hl7-listen', `127.0.0.1:${port}`, ...(extra.args || [])] });
  s.hl7port = port;
  return s;
}

let srv, doctor;
before(async () => {
  srv = await hl7Server({ env: { HIS_HL7_MAX_MESSAGE: '65536' } });
  doctor = await srv.login('bs.an');
});
after(async () => { await srv?.stop(); });

const inMessage = (ctl) => srv.sql(`SELECT state || '|' || ack_code || '|' || coalesce(error, '') FROM hl7.messages WHERE control_id = '${ctl}'`);

test('ADT^A04 registers a patient and A08 updates the same one (matched by CCCD)', async () => {
  const e4 = expect('adt_a04');
  const ack = await sendOne(srv.hl7port, fx('adt_a04'));
  assert.equal(field(ack, 'MSA', 1), e4.ack);
  assert.equal(field(ack, 'MSA', 2), 'ENG-A04-1');
  const found = await until(async () => {
    const r = await doctor.get('/api/v1/patients?q=' + e4.patient.cccd);
    return r.json?.items?.length ? r.json.items[0] : null;
  });
  for (const [k, v] of Object.entries(e4.patient)) assert.deepEqual(found[k], v, k);
  const e8 = expect('adt_a08');
  assert.equal(field(await sendOne(srv.hl7port, fx('adt_a08')), 'MSA', 1), e8.ack);
  await until(async () => {
    const r = await doctor.get('/api/v1/patients?q=' + e8.patient.cccd);
    return r.json.items[0]?.phone === e8.patient.phone;
  });
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.patients WHERE cccd = '${e8.patient.cccd}'`), String(e8.patients_with_cccd));
  // Processed with the HL7 system identity in the audit log.
  assert.match(inMessage('ENG-A04-1'), /^processed\|AA\|$/);
  const audit = srv.sql(`SELECT username || ' ' || role FROM audit.events WHERE entity = 'patient' AND action = 'create' AND request_id LIKE 'hl7-%' LIMIT 1`);
  assert.equal(audit, 'hl7:19020 system');
  // The messages API shows it, under the receiving facility's scope.
  const list = await doctor.get('/api/v1/hl7/messages?direction=in&state=processed');
  assert.equal(list.status, 200);
  assert.ok(list.json.items.some((m) => m.control_id === 'ENG-A04-1' && m.raw.startsWith('MSH|') && m.ack.includes('MSA|AA')));
});

test('duplicates are acknowledged again with the stored ACK and no second effect', async () => {
  const first = await sendOne(srv.hl7port, fx('adt_a01'));
  assert.equal(field(first, 'MSA', 1), 'AA');
  // The same message three more times, two of them at once on two connections.
  const again = await Promise.all([sendOne(srv.hl7port, fx('adt_a01')), sendOne(srv.hl7port, fx('adt_a01'))]);
  const third = await sendOne(srv.hl7port, fx('adt_a01'));
  for (const a of [...again, third]) assert.equal(a, first, 'byte-identical stored ACK');
  await until(() => srv.sql(`SELECT count(*) FROM hl7.messages WHERE control_id = 'ENG-A01-1' AND state = 'processed'`) === '1');
  assert.equal(srv.sql(`SELECT count(*) FROM hl7.messages WHERE control_id = 'ENG-A01-1'`), '1');
  const e = expect('adt_a01');
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.visits v JOIN clinical.patients p ON p.id = v.patient_id WHERE p.cccd = '019090654321'`), String(e.visits));
  assert.equal(srv.sql(`SELECT v.kind FROM clinical.visits v JOIN hl7.visit_links l ON l.visit_id = v.id WHERE l.visit_number = 'VV-2026-0042'`), e.kind);
  // A03 discharges the visit A01 opened (found through PV1-19).
  assert.equal(field(await sendOne(srv.hl7port, fx('adt_a03')), 'MSA', 1), 'AA');
  await until(() => srv.sql(`SELECT v.discharged_at IS NOT NULL FROM clinical.visits v JOIN hl7.visit_links l ON l.visit_id = v.id WHERE l.visit_number = 'VV-2026-0042'`) === 't');
});

test('invalid messages get AE/AR with an ERR segment naming segment and field, and are stored', async () => {
  for (const name of ['bad_cccd', 'missing_name', 'unknown_facility', 'unsupported_type', 'broken_segment']) {
    const e = expect(name);
    const ack = await sendOne(srv.hl7port, fx(name));
    assert.equal(field(ack, 'MSA', 1), e.ack, name + ': ' + ack);
    assert.ok(field(ack, 'ERR', 3), name + ' has ERR-3');
    if (e.err_location) assert.ok(ack.split('\r').some((l) => l.startsWith('ERR|') && l.split('|')[2].startsWith(e.err_location)), `${name}: ERR-2 ${e.err_location} in ${ack}`);
    if (e.msa2) assert.equal(field(ack, 'MSA', 2), e.msa2);
    const ctl = field(fx(name), 'MSH', 10);
    assert.equal(srv.sql(`SELECT count(*) FROM hl7.messages WHERE control_id = '${ctl}' AND state = '${e.state}' AND ack_code = '${e.ack}'`), '1', name + ' stored');
  }
  // None of them made a patient.
  assert.equal(srv.sql(`SELECT count(*) FROM clinical.patients WHERE cccd IN ('019185000111', '019185000222', '019185000333', '019185000444')`), '0');
});

test('garbage, frames that are not HL7 and oversized frames are handled; the server still answers', async () => {
  // A frame holding no message at all: AR built by hand.
  const nak = await sendOne(srv.hl7port, 'this is not HL7');
  assert.equal(field(nak, 'MSA', 1), 'AR');
  // Bytes outside any frame, then a good frame on the same connection.
  const c = await MllpClient.connect(srv.hl7port);
  const good = fx('adt_a04').replace('ENG-A04-1', 'ENG-AFTER-GARBAGE');
  const ack = await c.sendRaw(Buffer.concat([Buffer.from('\x00\x01garbage\r\n'), frame(good)]));
  assert.equal(field(ack, 'MSA', 1), 'AA');
  c.destroy();
  // A frame over HIS_HL7_MAX_MESSAGE (64 KiB here): AR, then the connection closes.
  const big = await MllpClient.connect(srv.hl7port);
  const huge = fx('adt_a04').replace('ENG-A04-1', 'ENG-HUGE') + '\rNTE|1||' + 'x'.repeat(200000);
  const bigAck = await big.sendRaw(frame(huge));
  assert.equal(field(bigAck, 'MSA', 1), 'AR');
  await big.closedPromise;
  // An endless stream without frames is cut off.
  const flood = await MllpClient.connect(srv.hl7port);
  flood.sock.write(Buffer.alloc(300000, 0x41));
  await flood.closedPromise;
  // A start block and then silence, on a connection we drop: nothing stored.
  const half = await MllpClient.connect(srv.hl7port);
  half.sock.write(Buffer.from('\x0bMSH|^~\\&|LIS|19020|HIS|19010|2026||ADT^A04|HALF'));
  half.destroy();
  // Still answering.
  const after = await sendOne(srv.hl7port, fx('adt_a04').replace('ENG-A04-1', 'ENG-STILL-ALIVE'));
  assert.equal(field(after, 'MSA', 1), 'AA');
  assert.equal(srv.sql(`SELECT count(*) FROM hl7.messages WHERE control_id IN ('ENG-HUGE', 'HALF')`), '0');
  assert.equal(srv.proc.exitCode, null);
});

test('a message is committed before its ACK: kill -9 right after the ACK, restart, it is there and processed', async () => {
  const s = await hl7Server();
  let msg = fx('adt_a04').replace('ENG-A04-1', 'ENG-KILL-1').replace(/019185123456/g, '019185999999').replace(/GD4191234567890/g, 'GD4191234599999');
  const ack = await sendOne(s.hl7port, msg);
  s.proc.kill('SIGKILL');
  assert.equal(field(ack, 'MSA', 1), 'AA');
  await new Promise((r) => s.proc.once('exit', r));
  assert.equal(s.sql(`SELECT count(*) FROM hl7.messages WHERE control_id = 'ENG-KILL-1'`), '1');
  // After the restart the processor applies what was stored and acknowledged.
  const s2 = await startServer({ db: s.db, args: ['--hl7-listen', `127.0.0.1:${s.hl7port}`] });
  try {
    await until(() => s2.sql(`SELECT state FROM hl7.messages WHERE control_id = 'ENG-KILL-1'`) === 'processed');
    assert.equal(s2.sql(`SELECT count(*) FROM clinical.patients WHERE cccd = '019185999999'`), '1');
    // The sender did not see the ACK? Sending again gives the same ACK, no second patient.
    assert.equal(await sendOne(s.hl7port, msg), ack);
    assert.equal(s2.sql(`SELECT count(*) FROM clinical.patients WHERE cccd = '019185999999'`), '1');
  } finally {
    await s2.stop();
  }
});

test('TLS with client certificates: a valid client is served, others are refused', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hl7tls-'));
  const ossl = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: 'pipe' });
  const mkcert = (name, cn, ca, san) => {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    const ext = `${name}.ext`;
    writeFileSync(path.join(dir, ext), san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2',
      '-out', `${name}.crt`, '-extfile', ext);
  };
  for (const ca of ['ca', 'rogue']) {
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=Thai Nguyen ${ca} CA`);
  }
  mkcert('server', 'his-19010', 'ca', 'IP:127.0.0.1,DNS:localhost');
  mkcert('client', '19020', 'ca');
  mkcert('rogueclient', '19020', 'rogue');
  const f = (n) => path.join(dir, n);
  const s = await hl7Server({ env: { HIS_HL7_TLS_CERT: f('server.crt'), HIS_HL7_TLS_KEY: f('server.key'), HIS_HL7_TLS_CA: f('ca.crt') } });
  try {
    const base = { ca: readFileSync(f('ca.crt')), servername: 'localhost' };
    const good = { ...base, cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) };
    const ack = await sendOne(s.hl7port, fx('adt_a04').replace('ENG-A04-1', 'ENG-TLS-1'), { tlsOptions: good });
    assert.equal(field(ack, 'MSA', 1), 'AA');
    // The certificate says 19020: it may not speak for 19001.
    const spoof = fx('adt_a04').replace('ENG-A04-1', 'ENG-TLS-2').replace('|LIS|19020|', '|LIS|19001|');
    const nak = await sendOne(s.hl7port, spoof, { tlsOptions: good });
    assert.equal(field(nak, 'MSA', 1), 'AR');
    assert.match(nak, /ERR\|\|MSH\^1\^4/);
    // No certificate, or one from another CA: no ACK, the connection is refused.
    for (const opts of [base, { ...base, cert: readFileSync(f('rogueclient.crt')), key: readFileSync(f('rogueclient.key')) }]) {
      let answer;
      try { answer = await sendOne(s.hl7port, fx('adt_a04').replace('ENG-A04-1', 'ENG-TLS-BAD'), { tlsOptions: opts }); } catch { answer = null; }
      assert.equal(answer, null);
    }
    // Plain TCP to the TLS port: nothing either.
    let plain;
    try { plain = await sendOne(s.hl7port, fx('adt_a04').replace('ENG-A04-1', 'ENG-TLS-PLAIN')); } catch { plain = null; }
    assert.equal(plain, null);
    assert.equal(s.sql(`SELECT count(*) FROM hl7.messages WHERE control_id IN ('ENG-TLS-BAD', 'ENG-TLS-PLAIN')`), '0');
    assert.equal(s.sql(`SELECT peer_cn FROM hl7.messages WHERE control_id = 'ENG-TLS-1'`), '19020');
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
