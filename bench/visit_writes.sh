#!/usr/bin/env bash
# Issue 4 benchmark: visits recorded per second at 16 and 64 connections,
# with p99, by the doctors of 16 stations of the generated province (bs.g001..,
# created by bench/province_load.sh), each writing for patients of their own
# station. Two variants:
#   post        POST /api/v1/visits {patient_id, kind} with an Idempotency-Key (as the UI sends it)
#   post_patch  the same, then PATCH /api/v1/visits/{id} with vitals, a primary ICD-10 diagnosis
#               and a note (If-Match from the POST): a visit recorded with its content; the
#               visits per second are half the requests per second
# Usage: bench/visit_writes.sh [seconds] [variants] [connection counts]
#   e.g. bench/visit_writes.sh 20 "post post_patch" "16 64"
#   HIS_THREADS / HIS_DB_POOL  server threads and pool (default 8 / 8)
#   HIS_BENCH_BIN              optimised his binary instead of scripts/build.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}; variants=${2:-post post_patch}; counts=${3:-16 64}
. bench/province_lib.sh
province_ready || { province_cluster_stop; bench/province_load.sh; province_cluster_start; }
province_binary
trap province_cluster_stop EXIT
work=$province_dir/writes; rm -rf "$work"; mkdir -p "$work"
bench_serve --threads "${HIS_THREADS:-8}" --db-pool "${HIS_DB_POOL:-8}"

# 16 stations' doctors, 500 patients each (a fixed sample).
$bench_psql > "$work/pairs" <<'SQL'
SELECT u.username || E'\t' || p.id || E'\t' || f.code
FROM (SELECT id, facility_id FROM core.users WHERE username ~ '^bs\.g[0-9]+$' ORDER BY username LIMIT 16) d
JOIN core.users u ON u.id = d.id JOIN core.facilities f ON f.id = d.facility_id
CROSS JOIN LATERAL (SELECT id FROM clinical.patients p WHERE p.facility_id = d.facility_id AND p.merged_into IS NULL
                    ORDER BY hashint8(p.id) LIMIT 500) p
ORDER BY hashint8(p.id);
SQL
cut -f1 "$work/pairs" | sort -u > "$work/users"
while read -r u; do printf '%s\t%s\n' "$u" "$(province_login "$u")"; done < "$work/users" > "$work/tokens"
awk -F'\t' 'NR == FNR { tok[$1] = $2; next } { print tok[$1] "\t" $2 "\t" $3 }' "$work/tokens" "$work/pairs" > "$work/visits.lines"

echo "server: --threads ${HIS_THREADS:-8} --db-pool ${HIS_DB_POOL:-8}; $(nproc) cores shared by wrk, his and PostgreSQL (fsync on)"
before=$($bench_psql -c "SELECT count(*) FROM clinical.visits")
for v in $variants; do
    for c in $counts; do
        wrk -t2 -c"$c" -d3s -s bench/wrk/visits.lua "$bench_url" -- "$work/visits.lines" "$v" >/dev/null # warm-up
        n0=$($bench_psql -c "SELECT count(*) FROM clinical.visits")
        echo "== $v at $c connections: wrk -t2 -c$c -d${secs}s --latency -s bench/wrk/visits.lua URL -- LINES $v"
        wrk -t2 -c"$c" -d"${secs}s" --latency -s bench/wrk/visits.lua "$bench_url" -- "$work/visits.lines" "$v" |
            grep -E 'Latency|50%|75%|90%|99%|Requests/sec|requests in|Non-2xx|Socket errors'
        n1=$($bench_psql -c "SELECT count(*) FROM clinical.visits")
        echo "visits created: $((n1 - n0)) in ${secs}s + tail: $(( (n1 - n0) / secs ))/s"
        [ "$v" = post_patch ] && $bench_psql -c "SELECT 'visits with a primary diagnosis: ' || count(*) FROM clinical.visit_diagnoses d WHERE d.visit_id > (SELECT max(id) - $((n1 - n0)) FROM clinical.visits) AND d.is_primary"
    done
done
echo "audit: $($bench_psql -c "SELECT count(*) FROM audit.events") events; visits before $before, now $($bench_psql -c "SELECT count(*) FROM clinical.visits")"
