#!/usr/bin/env bash
# CPU spent per POST /api/v1/visits by `his serve` and by PostgreSQL (issue
# 4's write path): a 10 s wrk run of bench/wrk/visits.lua at 16 connections
# on the generated province (bench/province_lib.sh; run bench/visit_writes.sh
# once first, it writes the tokens file), with utime+stime of the server and
# of every PostgreSQL process read from /proc before and after, divided by
# the requests. Unlike requests per second this holds up when other work
# shares the cores. pg_stat_statements (if the cluster preloads it) is reset
# before the run and its top statements are written to $PGSS (default
# /tmp/pgss.txt).
#   MODE=post|post_patch  the wrk script's mode (default post)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/province_lib.sh
province_ready || { echo "no province loaded: run bench/province_load.sh" >&2; exit 1; }
province_binary
trap province_cluster_stop EXIT
bench_serve --threads 32 --db-pool 32
work=$province_dir/writes
[ -s "$work/visits.lines" ] || { echo "no $work/visits.lines: run bench/visit_writes.sh once" >&2; exit 1; }
tick=$(getconf CLK_TCK)
pm=$(head -1 "$province_dir/data/postmaster.pid")
cpu() { # pids -> total ticks (children reaped included)
    local t=0 p
    for p in "$@"; do [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14+$15+$16+$17}' /proc/$p/stat))); done
    echo $t
}
allpg() { echo "$pm" $(pgrep -P "$pm"); }
wrk -t2 -c32 -d3s -s bench/wrk/visits.lua "$bench_url" -- "$work/visits.lines" "${MODE:-post}" >/dev/null 2>&1
sleep 1
$bench_psql -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
h0=$(cpu "$bench_server_pid"); a0=$(cpu $(allpg))
out=$(wrk -t2 -c16 -d10s --latency -s bench/wrk/visits.lua "$bench_url" -- "$work/visits.lines" "${MODE:-post}" 2>&1)
h1=$(cpu "$bench_server_pid"); a1=$(cpu $(allpg))
n=$(echo "$out" | awk '/requests in/ {print $1}')
echo "$out" | grep -E "Requests/sec|50%|99%"
echo "requests $n; his serve $(( (h1 - h0) * 1000000 / tick / n )) us/request; PostgreSQL (all processes) $(( (a1 - a0) * 1000000 / tick / n )) us/request"
$bench_psql -c "SELECT round(total_exec_time::numeric, 0), calls, round((total_exec_time / calls)::numeric, 3),
                       left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 150)
                FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25" > "${PGSS:-/tmp/pgss.txt}" 2>/dev/null || true
