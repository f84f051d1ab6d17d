// A small MLLP client for the HL7 engine tests: plain TCP or TLS, one
// message at a time, each waiting for its ACK.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

const SB = 0x0b, EB = 0x1c, CR = 0x0d;

export function frame(text) {
  const body = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([SB]), body, Buffer.from([EB, CR])]);
}

// Reads a fixture with LF line ends and gives ER7 with CR segment ends.
export function fixture(path) {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '').replace(/\r?\n/g, '\r');
}

export class MllpClient {
  static connect(port, { host = '127.0.0.1', tlsOptions = null, timeoutMs = 10000 } = {}) {
    return new Promise((resolve, reject) => {
      const c = new MllpClient();
      const onError = (e) => reject(e);
      const sock = tlsOptions
        ? tls.connect({ host, port, ...tlsOptions }, () => { sock.off('error', onError); resolve(c); })
        : net.connect({ host, port }, () => { sock.off('error', onError); resolve(c); });
      sock.once('error', onError);
      sock.setTimeout(timeoutMs);
      c.sock = sock;
      c.buf = Buffer.alloc(0);
      c.waiters = [];
      c.closed = false;
      c.closedPromise = new Promise((r) => sock.on('close', () => { c.closed = true; r(); c.flush(); }));
      sock.on('data', (d) => { c.buf = Buffer.concat([c.buf, d]); c.flush(); });
      sock.on('error', () => {});
      sock.on('timeout', () => sock.destroy());
    });
  }

  flush() {
    for (;;) {
      const s = this.buf.indexOf(SB);
      const e = this.buf.indexOf(EB);
      if (s >= 0 && e > s && this.buf.length > e + 1) {
        const msg = this.buf.subarray(s + 1, e).toString('utf8');
        this.buf = this.buf.subarray(e + 2);
        const w = this.waiters.shift();
        if (w) w.resolve(msg);
        continue;
      }
      break;
    }
    if (this.closed) while (this.waiters.length) this.waiters.shift().resolve(null);
  }

  // Sends raw bytes (framed or not) and resolves with the next ACK text, or
  // null if the server closed the connection first.
  sendRaw(bytes) {
    const p = new Promise((resolve) => this.waiters.push({ resolve }));
    this.sock.write(bytes);
    this.flush();
    return p;
  }

  send(text) { return this.sendRaw(frame(text)); }

  close() { this.sock.end(); return this.closedPromise; }
  destroy() { this.sock.destroy(); }
}

// One message on a fresh connection.
export async function sendOne(port, text, opts) {
  const c = await MllpClient.connect(port, opts);
  try { return await c.send(text); } finally { c.destroy(); }
}

// Field access on an ER7 ACK: seg "MSA", field n (MSH counts MSH-1 as '|').
export function field(er7, seg, n, occurrence = 1) {
  const lines = er7.split(/\r|\n/).filter((l) => l.startsWith(seg + '|'));
  const line = lines[occurrence - 1];
  if (!line) return undefined;
  const parts = line.split('|');
  return seg === 'MSH' ? parts[n - 1] : parts[n];
}
