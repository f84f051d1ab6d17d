// Issue 9 point 6: the authorization matrix (tests/fixtures/authz/matrix.tsv) walked through the real HTTP
// server: every route of the router (`his routes`) x every role x {own facility, other facility} plus no session.
// Outcome classes: 401, 403, 404, 2xx, 4xx (any other 4xx: past authorization, refused as input, e.g. 422 for
// the empty body, 428 without If-Match), never 5xx. Another facility's object is never 2xx, and a GET of it is
// 404 (except the shared history, which reads across facilities by design). The second run disables the handlers' own facility/commune checks
// (HIS_TEST_DISABLE_HANDLER_SCOPE=1, honoured only by test builds): the "other facility" cells must still
// be 404, from row-level security alone.
// Regenerate a draft after adding routes: HIS_AUTHZ_RECORD=/tmp/matrix.tsv node --test tests/api/authz_matrix.test.mjs
// (then review every changed cell before copying it over the fixture).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { startServer, BIN, psql } from '../lib/server.mjs';

const MATRIX = new URL('../fixtures/authz/matrix.tsv', import.meta.url).pathname;
const ROLES = ['doctor', 'nurse', 'pharmacist', 'commune_worker', 'claims_officer', 'health_department', 'admin'];
const USERS = { doctor: 'bs.an', nurse: 'dd.hoa', pharmacist: 'ds.lan', commune_worker: 'yt.phucloc',
  claims_officer: 'bh.minh', health_department: 'syt.thu', admin: 'admin' };
const ABSENT = '2147483647';
// Object kinds: SQL giving the path parameters of an object of facility F (own: = F, other: <> F).
// Catalogue codes are not facility data: own and other are the same.
const OBJECTS = {
  patient: (op, f) => `SELECT id FROM clinical.patients WHERE facility_id ${op} ${f} ORDER BY id LIMIT 1`,
  household: (op, f) => `SELECT h.id FROM clinical.households h JOIN core.facilities fa ON fa.id = h.facility_id
    WHERE h.facility_id ${op} ${f} AND (fa.commune_code IS NULL OR h.commune_code = fa.commune_code) ORDER BY h.id LIMIT 1`,
  household_member: (op, f) => `SELECT m.household_id, m.patient_id FROM clinical.household_members m
    JOIN clinical.households h ON h.id = m.household_id JOIN core.facilities fa ON fa.id = h.facility_id
    WHERE m.facility_id ${op} ${f} AND m.left_at IS NULL AND (fa.commune_code IS NULL OR h.commune_code = fa.commune_code)
    ORDER BY m.id LIMIT 1`,
  visit: (op, f) => `SELECT id FROM clinical.visits WHERE facility_id ${op} ${f} ORDER BY id LIMIT 1`,
  visit_revision: (op, f) => `SELECT id, 1 FROM clinical.visits WHERE facility_id ${op} ${f} ORDER BY id LIMIT 1`,
  prescription: (op, f) => `SELECT code FROM pharmacy.prescriptions WHERE facility_id ${op} ${f} ORDER BY id LIMIT 1`,
  outbox: (op, f) => `SELECT id FROM core.outbox WHERE facility_id ${op} ${f} ORDER BY id LIMIT 1`,
  referral: (op, f) => `SELECT id FROM clinical.referrals WHERE facility_id ${op} ${f} ORDER BY id LIMIT 1`,
  claims_batch: (op, f) => `SELECT id FROM claims.batches WHERE facility_id ${op} ${f} ORDER BY id LIMIT 1`,
  claims_batch_visit: (op, f) => `SELECT b.id, i.visit_id FROM claims.batches b JOIN claims.batch_items i ON i.batch_id = b.id
    WHERE b.facility_id ${op} ${f} ORDER BY b.id LIMIT 1`,
  icd10: () => `SELECT code FROM catalog.icd10 ORDER BY code LIMIT 1`,
  drug: () => `SELECT code FROM catalog.drugs ORDER BY code LIMIT 1`,
};

function routerRoutes() {
  const r = spawnSync(BIN, ['routes'], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => {
    const [method, pattern, roles] = l.split('\t');
    return { method, pattern, roles: roles === 'public' ? 'public' : roles.split(',') };
  });
}

function readMatrix() {
  const rows = [];
  for (const line of readFileSync(MATRIX, 'utf8').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const f = line.split('\t');
    assert.equal(f.length, 3 + ROLES.length + 1, `matrix line has ${f.length} fields: ${line}`);
    const cells = {};
    ROLES.forEach((role, i) => { cells[role] = f[3 + i]; });
    cells.anonymous = f[3 + ROLES.length];
    rows.push({ method: f[0], pattern: f[1], object: f[2], cells });
  }
  return rows;
}

function outcome(status) {
  if (status >= 500) return `5xx(${status})`;
  if (status === 401 || status === 403 || status === 404) return String(status);
  return status < 300 ? '2xx' : '4xx';
}

// Path parameters of an object of kind `kind`, own (=) or other (<>) than facility f, or ABSENT when the demo
// data has none.
function objectParams(db, kind, op, f, nparams) {
  const q = OBJECTS[kind];
  assert.ok(q, `unknown object kind ${kind}`);
  const out = psql(db, q(op, f));
  const vals = out ? out.split('\n')[0].split('|') : [];
  while (vals.length < nparams) vals.push(ABSENT);
  return vals;
}

function fillPattern(pattern, vals) {
  let i = 0;
  return pattern.replace(/\{[a-z_]+\}/g, () => encodeURIComponent(vals[i++]));
}

async function walk(env) {
  const srv = await startServer({ env: { HIS_LOGIN_RATE_ACCOUNT: '0', HIS_LOGIN_RATE_ADDRESS: '0', ...env } });
  const observed = [];
  try {
    const clients = {};
    const fac = {};
    for (const role of ROLES) {
      clients[role] = await srv.login(USERS[role]);
      fac[role] = clients[role].user.facility.id;
    }
    const rows = readMatrix();
    // Logout ends the session the other requests use: last.
    const order = [...rows].sort((a, b) => (a.pattern.endsWith('/logout') ? 1 : 0) - (b.pattern.endsWith('/logout') ? 1 : 0));
    for (const row of order) {
      const nparams = (row.pattern.match(/\{/g) || []).length;
      const send = async (client, path) => {
        const body = ['POST', 'PUT', 'PATCH'].includes(row.method) ? {} : undefined;
        const r = await client.req(row.method, path, body);
        return outcome(r.status);
      };
      const got = { method: row.method, pattern: row.pattern, object: row.object, cells: {} };
      const anonPath = nparams ? fillPattern(row.pattern, objectParams(srv.db, row.object, '=', fac.doctor, nparams)) : row.pattern;
      got.cells.anonymous = await send(srv.anon(), anonPath);
      for (const role of ROLES) {
        if (!nparams) {
          got.cells[role] = await send(clients[role], row.pattern);
          continue;
        }
        const own = fillPattern(row.pattern, objectParams(srv.db, row.object, '=', fac[role], nparams));
        const other = fillPattern(row.pattern, objectParams(srv.db, row.object, '<>', fac[role], nparams));
        got.cells[role] = `${await send(clients[role], own)}/${await send(clients[role], other)}`;
      }
      observed.push(got);
    }
  } finally {
    await srv.stop();
  }
  return observed;
}

function compare(observed, label) {
  const expected = new Map(readMatrix().map((r) => [`${r.method} ${r.pattern}`, r]));
  const diffs = [];
  for (const o of observed) {
    const e = expected.get(`${o.method} ${o.pattern}`);
    for (const k of [...ROLES, 'anonymous'])
      if (e.cells[k] !== o.cells[k]) diffs.push(`${o.method} ${o.pattern} ${k}: expected ${e.cells[k]}, got ${o.cells[k]}`);
  }
  assert.deepEqual(diffs, [], `${label}: ${diffs.length} cell(s) differ`);
}

test('the matrix lists every route of the router, and agrees with the routes\' role masks', () => {
  const routes = routerRoutes();
  const rows = readMatrix();
  const have = new Map(rows.map((r) => [`${r.method} ${r.pattern}`, r]));
  const missing = routes.filter((r) => !have.has(`${r.method} ${r.pattern}`)).map((r) => `${r.method} ${r.pattern}`);
  assert.deepEqual(missing, [], 'routes of the router missing from tests/fixtures/authz/matrix.tsv');
  const known = new Set(routes.map((r) => `${r.method} ${r.pattern}`));
  const stale = rows.filter((r) => !known.has(`${r.method} ${r.pattern}`)).map((r) => `${r.method} ${r.pattern}`);
  assert.deepEqual(stale, [], 'matrix rows for routes the router does not have');
  for (const r of routes) {
    const row = have.get(`${r.method} ${r.pattern}`);
    if (r.roles === 'public') continue;
    assert.equal(row.cells.anonymous, '401', `${r.method} ${r.pattern}: no session must be 401`);
    for (const role of ROLES) {
      const cell = row.cells[role];
      if (!r.roles.includes(role))
        assert.match(cell, /^403(\/403)?$/, `${r.method} ${r.pattern} ${role}: not in the route's roles, must be 403`);
      else
        assert.doesNotMatch(cell, /403|401/, `${r.method} ${r.pattern} ${role}: allowed role refused`);
      // Another facility's object is never reachable: never 2xx; a GET is 404 (not even its existence shows).
      // Catalogues are not facility data; the shared history reads across facilities by design (issue 7).
      if (cell.includes('/') && !['icd10', 'drug'].includes(row.object) && !r.pattern.endsWith('/shared-history')) {
        const other = cell.split('/')[1];
        assert.notEqual(other, '2xx', `${r.method} ${r.pattern} ${role}: other facility's object`);
        if (r.method === 'GET')
          assert.match(other, /^40[34]$/, `${r.method} ${r.pattern} ${role}: other facility's object`);
      }
    }
  }
});

test('every cell of the matrix through the real server', async () => {
  const observed = await walk({});
  if (process.env.HIS_AUTHZ_RECORD) {
    const head = `# method\tpattern\tobject\t${ROLES.join('\t')}\tanonymous\n`;
    writeFileSync(process.env.HIS_AUTHZ_RECORD, head + observed.map((o) =>
      [o.method, o.pattern, o.object, ...ROLES.map((r) => o.cells[r]), o.cells.anonymous].join('\t')).join('\n') + '\n');
  }
  compare(observed, 'handler checks on');
});

test('row-level security alone: the same matrix with the handlers\' facility checks disabled (test build)', async () => {
  const observed = await walk({ HIS_TEST_DISABLE_HANDLER_SCOPE: '1' });
  compare(observed, 'handler checks off (HIS_TEST_DISABLE_HANDLER_SCOPE=1)');
});
