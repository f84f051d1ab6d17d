// A `his serve` on its own embedded cluster in a private data folder (not the
// shared test cluster): for the backup/restore, standby and switch-over tests.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BIN = process.env.HIS_BIN || 'build/test/his/his';
// Tests trade durability for speed (fsync off); the switch-over fence covers
// commits acknowledged before their WAL is flushed.
export const ENV = { ...process.env, HIS_PG_FAST: '1', ASAN_OPTIONS: 'detect_leaks=0' };

export function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o755); // the cluster's owner (postgres) must reach it
  return d;
}

export function his(...args) {
  return execFileSync(BIN, args, { env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function sock(dataDir) { return join(dataDir, 'pg', 'run'); }

export function sql(dataDir, text, db = 'his') {
  return execFileSync('psql', ['-h', sock(dataDir), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt',
    '-c', text], { encoding: 'utf8' }).trim();
}

export async function serve(dataDir, extra = []) {
  const proc = spawn(BIN, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--threads', '2', '--db-pool', '4',
    '--no-seed', ...extra], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; if (err.length > 100000) err = err.slice(-50000); });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('his serve did not start: ' + err)), 60000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/serving on (http:\/\/\S+?)\/?\n/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`his serve exited ${code}: ${err}`)); });
  });
  return {
    url, proc,
    stderr: () => err,
    async stop() {
      if (proc.exitCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
    },
  };
}

// Stops a cluster left running by a command (a standby) through its pg_ctl.
export function pgStop(dataDir) {
  const bindir = execFileSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1'], { encoding: 'utf8' }).trim();
  const args = [`${bindir}/pg_ctl`, '-D', join(dataDir, 'pg', 'data'), '-m', 'immediate', '-w', 'stop'];
  try {
    if (process.getuid() === 0) execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: 'ignore' });
    else execFileSync(args[0], args.slice(1), { stdio: 'ignore' });
  } catch { /* not running */ }
}
