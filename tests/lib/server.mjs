// Starts a real `his serve` on a fresh database of the test cluster (a copy of
// the migrated and seeded template his_template) and gives logged-in clients.
// Environment (set by tests/run-all.sh): HIS_BIN, HIS_TEST_PGHOST.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';

export const BIN = process.env.HIS_BIN || 'build/test/his/his';
export const PGHOST = process.env.HIS_TEST_PGHOST;
export const DEMO_PASSWORD = 'Demo@2026';

if (!PGHOST) throw new Error('HIS_TEST_PGHOST is not set: run the tests through tests/run-all.sh');

export function psql(db, sql) {
  const base = ['-h', PGHOST, '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt'];
  if (sql.length < 100000)
    return execFileSync('psql', [...base, '-c', sql], { encoding: 'utf8' }).trim();
  // Too long for a command-line argument (checks that list every id acknowledged in a long run): through
  // standard input, in one transaction like -c.
  return execFileSync('psql', [...base, '-1', '-f', '-'],
    { encoding: 'utf8', input: sql, maxBuffer: 256 * 1024 * 1024 }).trim();
}

export function createDatabase(template = 'his_template') {
  const db = 'test_' + randomBytes(6).toString('hex');
  for (let attempt = 0; ; attempt++) {
    try {
      psql('postgres', `CREATE DATABASE ${db} TEMPLATE ${template}`);
      return db;
    } catch (e) {
      // Two copies of one template at the same instant can collide; retry.
      if (attempt > 20) throw e;
      execFileSync('sleep', ['0.2']);
    }
  }
}

export function conninfo(db) {
  return `host=${PGHOST} user=postgres dbname=${db}`;
}

export class Client {
  constructor(base, token = null, csrf = null) {
    this.base = base;
    this.token = token;
    this.csrf = csrf;
    this.user = null;
  }
  async req(method, path, body, headers = {}) {
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    let payload;
    if (body !== undefined) {
      if (typeof body === 'string') payload = body;
      else { payload = JSON.stringify(body); }
      if (!h['Content-Type']) h['Content-Type'] = 'application/json';
    }
    const res = await fetch(this.base + path, { method, headers: h, body: payload });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    return { status: res.status, headers: res.headers, json, text };
  }
  get(p, h) { return this.req('GET', p, undefined, h); }
  post(p, b, h) { return this.req('POST', p, b ?? {}, h); }
  patch(p, b, h) { return this.req('PATCH', p, b, h); }
  put(p, b, h) { return this.req('PUT', p, b, h); }
}

// Under tests/run-all.sh (HIS_LSAN_DIR set) servers run with LeakSanitizer and write any report to a file
// there (stop() sends SIGTERM, so it runs at exit); run-all.sh fails if one was written.
export function serverAsanOptions() {
  const d = process.env.HIS_LSAN_DIR;
  return d ? `detect_leaks=1:log_path=${d}/his-serve` : 'detect_leaks=0';
}

// db: an existing database to serve again (a restart), instead of a fresh copy.
export async function startServer({ template = 'his_template', env = {}, args = [], db: reuse = null } = {}) {
  const db = reuse || createDatabase(template);
  const dbUrl = conninfo(db);
  const proc = spawn(BIN, ['serve', '--database-url', dbUrl, '--listen', '127.0.0.1:0', '--threads', '4',
    '--db-pool', '8', ...args], {
    env: { ...process.env, ASAN_OPTIONS: serverAsanOptions(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; if (stderr.length > 200000) stderr = stderr.slice(-100000); });
  // HIS_TEST_LOG_DIR (set by tests/run-all.sh): every server's stderr is kept there too, for the final
  // secrets-in-logs check (tests/secrets_in_logs.sh).
  if (process.env.HIS_TEST_LOG_DIR) {
    mkdirSync(process.env.HIS_TEST_LOG_DIR, { recursive: true });
    const logFile = `${process.env.HIS_TEST_LOG_DIR}/${db}-${proc.pid}.log`;
    proc.stderr.on('data', (d) => { try { appendFileSync(logFile, d); } catch { /* best effort */ } });
  }
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('his serve did not start: ' + stderr)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/serving on (http:\/\/\S+?)\/?\n/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`his serve exited ${code}: ${stderr}`)); });
  });
  const server = {
    url, db, dbUrl, proc,
    stderr: () => stderr,
    sql: (q) => psql(db, q),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await done;
    },
    anon() { return new Client(url); },
    async login(username, password = DEMO_PASSWORD) {
      const c = new Client(url);
      const r = await c.post('/api/v1/auth/login', { username, password });
      if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`);
      c.token = r.json.token;
      c.csrf = r.json.csrf_token;
      c.user = r.json.user;
      return c;
    },
  };
  return server;
}
