#!/usr/bin/env bash
# CPU seconds consumed by his serve and the bench cluster's postgres per request.
set -euo pipefail
cd /work/main
. bench/lib.sh; . bench/province_lib.sh
province_cluster_start
bench_bin=$PWD/build/run/his/his
bench_serve --threads 32 --db-pool 32
work=$province_dir/writes
tick=$(getconf CLK_TCK)
pm=$(head -1 $province_dir/data/postmaster.pid)
cpu() { # pid list -> total ticks
  local t=0; for p in "$@"; do [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14+$15+$16+$17}' /proc/$p/stat))); done; echo $t; }
pgpids() { for p in $(pgrep -P $pm); do grep -q "postgres: postgres postgres" /proc/$p/cmdline 2>/dev/null && echo $p; done; }
allpg() { echo $pm $(pgrep -P $pm); }
wrk -t2 -c32 -d3s -s bench/wrk/visits.lua "$bench_url" -- "$work/visits.lines" ${MODE:-post} >/dev/null 2>&1; sleep 1; backends=$(pgpids); h0=$(cpu $bench_server_pid); p0=$(cpu $backends); a0=$(cpu $(allpg))
psql -h $province_dir/run -U postgres -d postgres -qAtc "select pg_stat_statements_reset()" >/dev/null
out=$(wrk -t2 -c16 -d10s --latency -s bench/wrk/visits.lua "$bench_url" -- "$work/visits.lines" ${MODE:-post} 2>&1)
h1=$(cpu $bench_server_pid); p1=$(cpu $backends); a1=$(cpu $(allpg))
n=$(echo "$out" | awk '/requests in/ {print $1}')
echo "$out" | grep -E "Requests/sec|99%"
echo "requests $n; his cpu $(( (h1-h0)*1000000/tick/n )) us/req; postgres cpu $(( (p1-p0)*1000000/tick/n )) us/req in client backends; all postgres $(( (a1-a0)*1000000/tick/n )) us/req"
psql -h $province_dir/run -U postgres -d postgres -Atc "select round(total_exec_time::numeric,0), calls, round((total_exec_time/calls)::numeric,3), left(regexp_replace(query, E'\\s+', ' ', 'g'), 150) from pg_stat_statements order by total_exec_time desc limit 25" > /tmp/pgss.txt
kill $bench_server_pid; wait $bench_server_pid 2>/dev/null || true
province_cluster_stop
