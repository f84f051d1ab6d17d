// Issue 9 point 9: the restore drill. On a private embedded cluster: a base
// backup (`his db backup`, which switches WAL archiving on), rows A, the time
// T, rows B, then `his db restore --to T`: exactly rows A are back, rows B
// are not, and the old data folder is kept beside the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, his, sql, serve } from '../lib/embedded.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('restore drill: backup, rows A, T, rows B, restore to T gives exactly rows A', async () => {
  const dir = tempDir('his-drill-');
  let srv = await serve(dir);
  try {
    sql(dir, 'CREATE TABLE public.drill (id int PRIMARY KEY, tag text NOT NULL)');
    sql(dir, "INSERT INTO public.drill SELECT g, 'before' FROM generate_series(1, 10) g");
    const t0 = Date.now();
    const out = his('db', 'backup', '--data-dir', dir);
    assert.match(out, /base backup .*base-\d{8}T\d{6} done/);
    assert.ok(existsSync(join(dir, 'backups', 'wal')));
    // The server keeps working across the one restart that switched archiving on.
    await sleep(200);
    sql(dir, "INSERT INTO public.drill SELECT g, 'A' FROM generate_series(11, 60) g");
    sql(dir, "UPDATE public.drill SET tag = 'before-updated-in-A' WHERE id = 1");
    await sleep(50);
    const T = sql(dir, 'SELECT clock_timestamp()::text');
    await sleep(50);
    sql(dir, "INSERT INTO public.drill SELECT g, 'B' FROM generate_series(61, 90) g");
    sql(dir, "DELETE FROM public.drill WHERE id = 2");
    await srv.stop();

    const t1 = Date.now();
    const r = his('db', 'restore', '--to', T, '--data-dir', dir);
    const restoreMs = Date.now() - t1;
    assert.match(r, /restored to .* the old data folder is kept in/);
    const pgDir = join(dir, 'pg');
    assert.ok(readdirSync(pgDir).some((n) => n.startsWith('data.before-restore-')), 'old cluster kept aside');

    srv = await serve(dir);
    const rows = sql(dir, "SELECT tag || ':' || count(*) FROM public.drill GROUP BY tag ORDER BY tag").split('\n');
    assert.deepEqual(rows, ['A:50', 'before:9', 'before-updated-in-A:1']);
    assert.equal(sql(dir, 'SELECT count(*) FROM public.drill WHERE id = 2'), '1', 'the delete in B is undone');
    assert.equal(sql(dir, 'SELECT pg_is_in_recovery()'), 'f', 'promoted at the target');
    // The restored cluster takes writes and keeps archiving on a new timeline.
    sql(dir, "INSERT INTO public.drill VALUES (1000, 'after')");
    console.log(`# restore drill: backup+writes ${t1 - t0} ms, restore ${restoreMs} ms`);
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
