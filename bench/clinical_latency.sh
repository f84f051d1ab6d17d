#!/usr/bin/env bash
# Issue 4 benchmark: p50/p99 of (a) name search without diacritics,
# GET /api/v1/patients?q=...&limit=20 as the search box sends it, with a query
# mix drawn from the generated population (40 % full names, 25 % family +
# given name, 20 % given name alone, 15 % a lone family name), each asked by
# the commune worker of the station holding that person (facility scope
# applies); (b) opening the patient with 700 visits as the UI does:
# GET /api/v1/patients/{id} and GET /api/v1/patients/{id}/visits?limit=50.
# wrk with Lua scripts (bench/wrk/rotate.lua), every request's latency in
# wrk's histogram. Needs the province of bench/province_load.sh (loads it if
# absent).
# Usage: bench/clinical_latency.sh [seconds] [connections]
#   HIS_THREADS / HIS_DB_POOL  server threads and pool (default 8 / 8)
#   HIS_BENCH_BIN              optimised his binary instead of scripts/build.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}; conns=${2:-8}
. bench/province_lib.sh
province_ready || { province_cluster_stop; bench/province_load.sh; province_cluster_start; }
province_binary
trap province_cluster_stop EXIT
work=$province_dir/latency; rm -rf "$work"; mkdir -p "$work"
bench_serve --threads "${HIS_THREADS:-8}" --db-pool "${HIS_DB_POOL:-8}"

# Tokens of every station's commune worker.
$bench_psql -c "SELECT username FROM core.users WHERE username ~ '^yt\.g[0-9]+$' ORDER BY 1" > "$work/users"
while read -r u; do printf '%s\t%s\n' "$u" "$(province_login "$u")"; done < "$work/users" > "$work/tokens"

# The query mix: 5,000 people drawn across all stations (fixed sample), one
# query each, folded (no diacritics, lower case) as people type them.
$bench_psql > "$work/queries" <<'SQL'
WITH s AS (
    SELECT p.name_fold, u.username, (hashint8(p.id * 31) & 2147483647) % 100 AS k,
           regexp_split_to_array(p.name_fold, ' ') AS w
    FROM clinical.patients p JOIN core.users u ON u.facility_id = p.facility_id AND u.role = 'commune_worker'
    WHERE p.merged_into IS NULL
    ORDER BY hashint8(p.id) LIMIT 5000)
SELECT username || E'\t' || CASE
         WHEN k < 40 THEN 'full' || E'\t' || name_fold                                   -- "nguyen van an"
         WHEN k < 65 THEN 'family_given' || E'\t' || w[1] || ' ' || w[array_length(w, 1)] -- "nguyen an"
         WHEN k < 85 THEN 'given' || E'\t' || w[array_length(w, 1)]                        -- "an"
         ELSE 'family' || E'\t' || w[1] END                                               -- "nguyen"
FROM s;
SQL
awk -F'\t' -v dir="$work" 'NR == FNR { tok[$1] = $2; next }
    { q = $3; gsub(/ /, "%20", q); l = tok[$1] "\t/api/v1/patients?q=" q "&limit=20"
      print l > (dir "/search.lines"); print l > (dir "/search_" $2 ".lines") }' "$work/tokens" "$work/queries"

heavy=$($bench_psql -c "SELECT heavy_patient_id FROM bench.loaded")
huser=$($bench_psql -c "SELECT heavy_user FROM bench.loaded")
htok=$(awk -F'\t' -v u="$huser" '$1 == u { print $2 }' "$work/tokens")
printf '%s\t/api/v1/patients/%s\n' "$htok" "$heavy" > "$work/open_patient.lines"
printf '%s\t/api/v1/patients/%s/visits?limit=50\n' "$htok" "$heavy" > "$work/open_visits.lines"
cat "$work/open_patient.lines" "$work/open_visits.lines" > "$work/open_both.lines"

echo "server: --threads ${HIS_THREADS:-8} --db-pool ${HIS_DB_POOL:-8}; $(nproc) cores shared by wrk, his and PostgreSQL"
echo "sample queries:"; cut -f2,3 "$work/queries" | sed -n "1,8s/^/  /p"
run() { # name lines-file [seconds]
    local d=${3:-$secs}
    wrk -t2 -c"$conns" -d3s -s bench/wrk/rotate.lua "$bench_url" -- "$2" >/dev/null # warm-up
    echo "== $1: wrk -t2 -c$conns -d${d}s --latency -s bench/wrk/rotate.lua"
    wrk -t2 -c"$conns" -d"${d}s" --latency -s bench/wrk/rotate.lua "$bench_url" -- "$2" |
        grep -E 'Latency|50%|75%|90%|99%|Requests/sec|requests in|Non-2xx|Socket errors'
}
run "search (5,000 queries of the mix, 93 station users)" "$work/search.lines"
for k in full family_given given family; do
    run "search, $k only ($(wc -l < "$work/search_$k.lines") queries)" "$work/search_$k.lines" 10
done
run "open: GET /patients/{id} (700 visits)" "$work/open_patient.lines"
run "open: GET /patients/{id}/visits?limit=50" "$work/open_visits.lines"
run "open: both, alternating" "$work/open_both.lines"
