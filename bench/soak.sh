#!/usr/bin/env bash
# Issue 9 point 5: a soak at a fixed rate (default 350 requests/s, about half
# the visit-write benchmark rate) of a read/write mix (patient, visit history,
# search, new visit) by one doctor, in windows; between windows it reports
# his serve's resident memory, open file descriptors, the database
# connections and each window's p50/p99.
# Usage: bench/soak.sh [total minutes=30] [window minutes=5] [rate=350]
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-30}; window=${2:-5}; rate=${3:-350}
conns=16
delay_ms=$(( conns * 1000 / rate ))
scripts/build.sh run >/dev/null
. bench/lib.sh
bench_start_cluster
trap bench_stop_cluster EXIT
"$bench_bin" db migrate --database-url "$bench_db" >/dev/null
"$bench_bin" seed demo --database-url "$bench_db" >/dev/null
HIS_LOGIN_RATE_ADDRESS=0 bench_serve --threads 16 --db-pool 16
token=$(bench_login bs.an)
ids=$(mktemp)
psql -h "$bench_pg/run" -U postgres -d postgres -Atc \
  "SELECT p.id FROM clinical.patients p JOIN core.facilities f ON f.id = p.facility_id WHERE f.code = '19010' AND p.merged_into IS NULL" > "$ids"
sample() {
  local rss fds conns
  rss=$(awk '/VmRSS/ {print $2}' /proc/"$bench_server_pid"/status)
  fds=$(ls /proc/"$bench_server_pid"/fd | wc -l)
  conns=$(psql -h "$bench_pg/run" -U postgres -d postgres -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name = 'his'")
  echo "$1: rss_kb=$rss fds=$fds db_connections=$conns"
}
echo "soak: ${total} min in ${window}-min windows at ~${rate} req/s (${conns} connections, ${delay_ms} ms between requests each)"
sample start
windows=$(( total / window ))
for w in $(seq 1 "$windows"); do
    out=$(wrk -t2 -c"$conns" -d"$((window * 60))s" --latency -s bench/wrk/soak.lua "$bench_url" -- "$token" "$ids" "$delay_ms" 2>&1)
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}'); p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}'); non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    echo "window $w: ${rps} req/s p50=${p50} p99=${p99} non2xx=${non2xx:-0}"
    sample "after window $w"
done
"$bench_bin" audit verify --database-url "$bench_db"
