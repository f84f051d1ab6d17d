// Issue 9 point 10: GET /metrics in the Prometheus text format (0.0.4).
// Parses every line: HELP and TYPE before the samples of each metric, sample
// names and labels well formed, values numeric; counters and the latency
// histogram move after requests; loopback reads without a session, through a
// proxy (X-Forwarded-For) only an admin does.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';

const srv = await startServer();
after(() => srv.stop());

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (-?[0-9.eE+-]+|\+Inf|NaN)$/;

function parse(text) {
  const types = new Map();
  const helps = new Set();
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m;
    if ((m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/))) { helps.add(m[1]); continue; }
    if ((m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/))) {
      assert.ok(!types.has(m[1]), `TYPE twice for ${m[1]}`);
      types.set(m[1], m[2]);
      continue;
    }
    m = line.match(SAMPLE);
    assert.ok(m, `not a valid sample line: ${line}`);
    const labels = {};
    for (const [, k, v] of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    const base = m[1].replace(/_(bucket|sum|count)$/, '');
    const family = types.has(m[1]) ? m[1] : base;
    assert.ok(types.has(family), `sample before its TYPE: ${line}`);
    assert.ok(helps.has(family), `no HELP for ${family}`);
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return { types, samples };
}

const get = (s, name, pred = () => true) => s.samples.filter((x) => x.name === name && pred(x.labels));
const sum = (arr) => arr.reduce((a, x) => a + x.value, 0);

test('metrics: format, names, values move after requests', async () => {
  const anon = srv.anon();
  const r0 = await anon.get('/metrics');
  assert.equal(r0.status, 200);
  assert.match(r0.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const m0 = parse(r0.text);
  for (const [name, type] of [['his_http_requests_total', 'counter'], ['his_http_request_duration_seconds', 'histogram'],
    ['his_up', 'gauge'], ['his_db_pool_size', 'gauge'], ['his_db_connections', 'gauge'],
    ['his_outbox_messages', 'gauge'], ['his_outbox_oldest_age_seconds', 'gauge'], ['his_hl7_inbound_queue', 'gauge'],
    ['his_hl7_inbound_oldest_age_seconds', 'gauge'], ['his_replication_lag_seconds', 'gauge']]) {
    assert.equal(m0.types.get(name), type, name);
  }
  assert.equal(get(m0, 'his_up')[0].value, 1);
  assert.equal(get(m0, 'his_db_pool_size', (l) => l.pool === 'app')[0].value, 8);
  assert.equal(get(m0, 'his_hl7_inbound_queue').length, 1);

  const doctor = await srv.login('bs.an');
  const route = (l) => l.route === '/api/v1/patients' && l.method === 'GET';
  const before = sum(get(m0, 'his_http_requests_total', (l) => route(l) && l.status === '200'));
  for (let i = 0; i < 3; i++) assert.equal((await doctor.get('/api/v1/patients?q=nguyen')).status, 200);
  assert.equal((await anon.get('/api/v1/patients?q=nguyen')).status, 401);
  const m1 = parse((await anon.get('/metrics')).text);
  assert.equal(sum(get(m1, 'his_http_requests_total', (l) => route(l) && l.status === '200')), before + 3);
  // Refused before a handler ran: no route pattern yet, counted as route "none".
  assert.ok(sum(get(m1, 'his_http_requests_total', (l) => l.route === 'none' && l.status === '401')) >= 1);
  // The histogram: cumulative buckets ending at +Inf == _count, _sum > 0.
  const buckets = get(m1, 'his_http_request_duration_seconds_bucket', route);
  assert.ok(buckets.length >= 2);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, 'buckets cumulative');
  const inf = buckets.find((b) => b.labels.le === '+Inf');
  const count = get(m1, 'his_http_request_duration_seconds_count', route)[0];
  assert.equal(inf.value, count.value);
  assert.ok(count.value >= 3);
  assert.ok(get(m1, 'his_http_request_duration_seconds_sum', route)[0].value > 0);
  // No raw paths as labels: the query string and ids never appear.
  assert.ok(!/nguyen/.test((await anon.get('/metrics')).text));

  // Outbox: a queued message shows up with its age.
  srv.sql(`INSERT INTO core.outbox (facility_id, target, kind, dedupe_key, payload, created_at)
           SELECT id, 'claims-portal', 'claims', 'metrics-test-1', '{}', now() - interval '90 seconds'
           FROM core.facilities WHERE code = '19010'`);
  const m2 = parse((await anon.get('/metrics')).text);
  const q = get(m2, 'his_outbox_messages', (l) => l.target === 'claims-portal' && l.state === 'queued');
  assert.equal(q.length, 1);
  assert.ok(q[0].value >= 1);
  const age = get(m2, 'his_outbox_oldest_age_seconds', (l) => l.target === 'claims-portal' && l.state === 'queued');
  assert.ok(age[0].value >= 89, `age ${age[0].value}`);
});

test('metrics: through a proxy only an admin may read', async () => {
  const fwd = { 'X-Forwarded-For': '203.0.113.9' };
  assert.equal((await srv.anon().get('/metrics', fwd)).status, 401);
  const doctor = await srv.login('bs.an');
  assert.equal((await doctor.get('/metrics', fwd)).status, 403);
  const admin = await srv.login('admin');
  const r = await admin.get('/metrics', fwd);
  assert.equal(r.status, 200);
  assert.match(r.text, /^# TYPE his_http_requests_total counter$/m);
});
