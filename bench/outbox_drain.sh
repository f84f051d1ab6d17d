#!/usr/bin/env bash
# Issue 5 benchmark: outbox drain rate against the simulator. N prescriptions
# wait in the outbox (portal unset while they are issued), then the server is
# restarted with HIS_RX_PORTAL_URL pointing at `his portal-sim` and we time
# until every row is acknowledged (doctor login, POST gui-don-thuoc, the
# settle update per row; 4 workers, batches of 8).
# Usage: bench/outbox_drain.sh [rows] [sim latency ms]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-5000}; latency=${2:-0}
scripts/build.sh run >/dev/null
. bench/lib.sh
bench_start_cluster
sim_pid=""
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; bench_stop_cluster; }
trap cleanup EXIT
"$bench_bin" db migrate --database-url "$bench_db" >/dev/null
"$bench_bin" seed demo --database-url "$bench_db" >/dev/null
bench_serve
token=$(bench_login bs.an)
vid=$(psql "$bench_db" -qAt -c "
  WITH f AS (SELECT id FROM core.facilities WHERE code = '19010'),
       v AS (INSERT INTO clinical.visits (facility_id, patient_id, ma_lk, kind)
             SELECT f.id, (SELECT min(id) FROM clinical.patients WHERE facility_id = f.id), 'DRAIN00000001', 'outpatient'
             FROM f RETURNING id, facility_id),
       d AS (INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary)
             SELECT id, facility_id, 0, 'J06.9', true FROM v RETURNING visit_id)
  SELECT visit_id FROM d")
# One real prescription; its outbox payload is the template for the others
# (each with its own code, so the portal sees N distinct prescriptions).
code=$(curl -s -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"type":"C","items":[{"drug_code":"T0001","quantity":15,"dosage":"Uống 1 viên x 3 lần/ngày","days":5}]}' \
    "$bench_url/api/v1/visits/$vid/prescriptions" | sed -E 's/.*"code":"([^"]+)".*/\1/')
psql "$bench_db" -qAt -c "
  INSERT INTO core.outbox (facility_id, target, kind, dedupe_key, payload, created_by)
  SELECT o.facility_id, o.target, o.kind, c.code, replace(o.payload, '$code', c.code), o.created_by
  FROM core.outbox o, LATERAL (SELECT '19010' || substr(md5(g::text), 1, 7) || '-C' AS code
                               FROM generate_series(1, $rows - 1) g) c
  WHERE o.dedupe_key = '$code'
  ON CONFLICT DO NOTHING"
total=$(psql "$bench_db" -qAt -c "SELECT count(*) FROM core.outbox WHERE state = 'queued'")
kill "$bench_server_pid"; wait "$bench_server_pid" 2>/dev/null || true
simout=$(mktemp)
"$bench_bin" portal-sim --listen 127.0.0.1:0 --latency-ms "$latency" >"$simout" 2>&1 &
sim_pid=$!
for _ in $(seq 1 50); do sim_url=$(grep -o 'http://[^ ]*' "$simout" | sed 's#/$##' || true); [ -n "$sim_url" ] && break; sleep 0.1; done
t0=$(date +%s.%N)
HIS_RX_PORTAL_URL=$sim_url bench_serve
while :; do
    left=$(psql "$bench_db" -qAt -c "SELECT count(*) FROM core.outbox WHERE state <> 'acknowledged'")
    [ "$left" -eq 0 ] && break
    sleep 0.05
done
t1=$(date +%s.%N)
accepted=$(curl -s "$sim_url/_sim/received?kind=prescription" | grep -o '"count":1' | wc -l)
span=$(psql "$bench_db" -qAt -c "SELECT round(extract(epoch FROM max(acknowledged_at) - min(sent_at))::numeric, 3) FROM core.outbox")
echo "first send to last acknowledgement: $span s ($(awk -v n="$total" -v s="$span" 'BEGIN { printf "%.0f", n / s }') messages/s)"
awk -v n="$total" -v a="$t0" -v b="$t1" -v acc="$accepted" -v lat="$latency" \
    'BEGIN { printf "drained %d messages in %.2f s (server start included): %.0f messages/s (simulator latency %d ms; accepted once each: %d)\n", n, b - a, n / (b - a), lat, acc }'
