#!/usr/bin/env bash
# Issue 3 benchmark: durable MLLP ingest. Messages/s acknowledged after
# commit (each ACK leaves only after the message's row is committed, fsync
# on) with 1 and 8 senders, each sender waiting for each ACK before sending
# the next message. Optimised build, durable cluster (bench/lib.sh).
# Usage: bench/hl7_ingest.sh [seconds] [sender counts...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}; shift || true
counts=${*:-1 8}
[ -n "${HIS_BENCH_BIN:-}" ] || scripts/build.sh run >/dev/null
. bench/lib.sh
bench_bin=${HIS_BENCH_BIN:-$bench_bin}   # another build of his, e.g. for a profile
bench_start_cluster
trap bench_stop_cluster EXIT
gcc -O2 -pthread -o "$bench_pg/hl7_load" bench/hl7_load.c
"$bench_bin" db migrate --database-url "$bench_db" >/dev/null
"$bench_bin" seed demo --database-url "$bench_db" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bench_serve --hl7-listen "127.0.0.1:$port" --db-pool "${HIS_DB_POOL:-20}"
psql_q() { "$bench_bindir/psql" -h "$bench_pg/run" -U postgres -Atc "$1"; }
echo "cluster: fsync=$(psql_q 'show fsync') synchronous_commit=$(psql_q 'show synchronous_commit'); $(nproc) CPUs"
for n in $counts; do
    "$bench_pg/hl7_load" 127.0.0.1 "$port" "$n" "$secs"
done
# The processor works after the ACKs: how far it got while the senders ran.
echo "stored: $(psql_q "SELECT count(*) FROM hl7.messages") messages, processed so far: $(psql_q "SELECT count(*) FROM hl7.messages WHERE state = 'processed'")"
