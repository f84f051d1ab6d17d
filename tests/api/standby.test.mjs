// Issue 9 point 10: a hot standby (`his db standby`) and a switch-over
// (`his db promote`) that loses no acknowledged write. Primary and standby
// are embedded clusters in private folders, unix sockets only. A writer keeps
// inserting on the primary, one autocommit INSERT per psql call; an insert
// counts as acknowledged when psql exited 0. While it writes, the standby is
// promoted: the command fences the primary (read-only, sessions ended),
// waits for the standby to replay up to the primary's pg_switch_wal() LSN,
// then promotes. Every acknowledged row must be on the new primary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tempDir, his, sql, sock, serve, pgStop, BIN, ENV } from '../lib/embedded.mjs';

const execFileP = promisify(execFile);

async function insert(dir, id) {
  try {
    await execFileP('psql', ['-h', sock(dir), '-U', 'postgres', '-d', 'his', '-v', 'ON_ERROR_STOP=1', '-qAt',
      '-c', `INSERT INTO public.sw (id) VALUES (${id})`]);
    return true;
  } catch { return false; }
}

function run(args) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => resolve({ code, out }));
  });
}

test('standby: hot standby for reports, switch-over without losing an acknowledged write', async () => {
  const P = tempDir('his-primary-');
  const S = tempDir('his-standby-');
  const primary = await serve(P);
  try {
    sql(P, 'CREATE TABLE public.sw (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    sql(P, 'INSERT INTO public.sw (id) SELECT g FROM generate_series(1, 100) g');
    const conninfo = his('db', 'conninfo', '--data-dir', P).trim();
    assert.match(conninfo, /host=\//);
    const out = his('db', 'standby', '--from', conninfo, '--data-dir', S);
    assert.match(out, /standby streaming/);

    // Hot standby: reads work, writes are refused.
    sql(P, 'INSERT INTO public.sw (id) VALUES (101)');
    let seen = '0';
    for (let i = 0; i < 100 && seen !== '101'; i++) {
      seen = sql(S, 'SELECT count(*) FROM public.sw');
      if (seen !== '101') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(seen, '101', 'the standby replays the primary');
    assert.equal(sql(S, 'SELECT pg_is_in_recovery()'), 't');
    assert.throws(() => sql(S, 'INSERT INTO public.sw (id) VALUES (-1)'), /read-only/);

    // /metrics on the primary shows the standby and its lag.
    const m = await (await fetch(primary.url + '/metrics')).text();
    assert.match(m, /^his_replication_lag_seconds\{kind="standby",name="[^"]*"\} [0-9.]+$/m);
    assert.match(m, /^his_replication_lag_bytes\{kind="standby",name="[^"]*"\} [0-9]+$/m);

    // Writers on the primary during the switch-over.
    const acked = [];
    let next = 1000;
    let stop = false;
    const writer = async () => {
      while (!stop) {
        const id = next++;
        if (await insert(P, id)) acked.push(id);
      }
    };
    const writers = [writer(), writer(), writer()];
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    const promoted = await run(['db', 'promote', '--data-dir', S]);
    const promoteMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 300)); // writes after the fence must fail, not vanish
    stop = true;
    await Promise.all(writers);
    assert.equal(promoted.code, 0, promoted.out);
    assert.match(promoted.out, /primary fenced \(read-only\) and replayed up to/);
    assert.ok(acked.length > 5, `writes acknowledged during the test: ${acked.length}`);

    assert.equal(sql(S, 'SELECT pg_is_in_recovery()'), 'f', 'the standby is the primary now');
    const have = new Set(sql(S, 'SELECT id FROM public.sw WHERE id >= 1000').split('\n').filter(Boolean).map(Number));
    const lost = acked.filter((id) => !have.has(id));
    assert.deepEqual(lost, [], 'acknowledged writes missing on the new primary');
    // The new primary takes writes; the old one refuses them (fenced).
    sql(S, 'INSERT INTO public.sw (id) VALUES (-2)');
    assert.throws(() => sql(P, 'INSERT INTO public.sw (id) VALUES (-3)'), /read-only/);
    console.log(`# switch-over: ${acked.length} writes acknowledged, ${lost.length} lost, promote ${promoteMs} ms`);
  } finally {
    await primary.stop();
    pgStop(S);
    rmSync(P, { recursive: true, force: true });
    rmSync(S, { recursive: true, force: true });
  }
});
