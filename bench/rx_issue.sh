#!/usr/bin/env bash
# Issue 5 benchmark: e-prescriptions issued per second and latency percentiles
# at 16 connections (wrk + Lua), optimised build, durable cluster (fsync on).
# Each request is the whole issue path: visit, patient and diagnoses read,
# catalogue checks, the national code, insert, Ed25519 signature, the outbox
# row and the audit row in one transaction. The national portal is the
# simulator (his portal-sim), so the delivery workers run at the same time.
# Usage: bench/rx_issue.sh [seconds] [connections] [portal: sim | none]
# (none: the portal unset, the outbox only fills; isolates the issue path)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}; conns=${2:-16}; portal=${3:-sim}
scripts/build.sh run >/dev/null
. bench/lib.sh
bench_start_cluster
sim_pid=""
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; bench_stop_cluster; rm -f "${lua:-}"; }
trap cleanup EXIT
"$bench_bin" db migrate --database-url "$bench_db" >/dev/null
"$bench_bin" seed demo --database-url "$bench_db" >/dev/null
simout=$(mktemp)
"$bench_bin" portal-sim --listen 127.0.0.1:0 >"$simout" 2>&1 &
sim_pid=$!
for _ in $(seq 1 50); do sim_url=$(grep -o 'http://[^ ]*' "$simout" | sed 's#/$##' || true); [ -n "$sim_url" ] && break; sleep 0.1; done
[ "$portal" = none ] && sim_url=""
HIS_RX_PORTAL_URL=$sim_url HIS_PHARMACY_PORTAL_URL=$sim_url \
    bench_serve --threads "${HIS_THREADS:-16}" --db-pool "${HIS_DB_POOL:-20}"
# 400 open visits at the district hospital, each with an acute diagnosis.
first=$(psql "$bench_db" -qAt -c "
  WITH f AS (SELECT id FROM core.facilities WHERE code = '19010'),
       p AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM clinical.patients WHERE facility_id = (SELECT id FROM f) LIMIT 400),
       v AS (INSERT INTO clinical.visits (facility_id, patient_id, ma_lk, kind)
             SELECT (SELECT id FROM f), p.id, 'BENCH' || lpad(p.n::text, 8, '0'), 'outpatient' FROM p RETURNING id, facility_id),
       d AS (INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary)
             SELECT id, facility_id, 0, 'J06.9', true FROM v RETURNING visit_id)
  SELECT min(visit_id) || ' ' || count(*) FROM d")
set -- $first
token=$(bench_login bs.an)
lua=$(mktemp --suffix=.lua)
cat >"$lua" <<LUA
local first, n = $1, $2
local body = '{"type":"C","items":[{"drug_code":"T0001","quantity":15,"unit":"viên","dosage":"Uống 1 viên x 3 lần/ngày","days":5},{"drug_code":"T0007","quantity":14,"dosage":"Uống 1 viên x 2 lần/ngày","days":7}]}'
local i = math.random(0, n - 1)
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = (i + 1) % n
  return wrk.format(nil, "/api/v1/visits/" .. (first + i) .. "/prescriptions", nil, body)
end
LUA
echo "wrk -t2 -c$conns -d${secs}s --latency POST /api/v1/visits/{id}/prescriptions (2 items, bearer)"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$lua" "$bench_url"
echo "prescriptions stored: $(psql "$bench_db" -qAt -c "SELECT count(*) FROM pharmacy.prescriptions WHERE origin = 'local'")," \
     "delivered to the simulator so far: $(psql "$bench_db" -qAt -c "SELECT count(*) FROM core.outbox WHERE state = 'acknowledged'")"
