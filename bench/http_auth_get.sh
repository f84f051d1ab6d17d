#!/usr/bin/env bash
# Issue 2 benchmark: requests/s and latency percentiles of an authenticated
# GET (/api/v1/auth/me: session look-up by token hash, user and facility join)
# at 64 connections with wrk, against the optimised build and a durable cluster.
# Usage: bench/http_auth_get.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}; conns=${2:-64}
scripts/build.sh run >/dev/null
. bench/lib.sh
bench_start_cluster
trap bench_stop_cluster EXIT
"$bench_bin" db migrate --database-url "$bench_db" >/dev/null
"$bench_bin" seed demo --database-url "$bench_db" >/dev/null
bench_serve --threads "${HIS_THREADS:-16}" --db-pool "${HIS_DB_POOL:-20}"
token=$(bench_login bs.an)
echo "wrk -t2 -c$conns -d${secs}s --latency GET /api/v1/auth/me (bearer)"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$bench_url/api/v1/auth/me"
