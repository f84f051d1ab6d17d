#!/usr/bin/env bash
# Issue 9 point 3, the long run: tests/api/fault_kill.test.mjs with 20 SIGKILLs of his serve under a mixed load
# (logins, patient search, visits, prescriptions, dispensings, inbound ADT over MLLP), each followed by a restart
# on the same database and the exactly-once checks; prints the figures (requests acknowledged, found after
# restart, duplicates, outbox rows delivered) as JSON.
#   bench/fault_kill.sh [KILLS]          (default 20; HIS_FAULT_ROUND_MS=5000 is the longest wait before a kill)
# Uses build/run/his/his (scripts/build.sh run) unless HIS_BIN is set; a private test cluster (tests/lib/pgcluster.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
kills=${1:-20}
if [ -z "${HIS_BIN:-}" ]; then scripts/build.sh run >/dev/null; export HIS_BIN="$top/build/run/his/his"; fi
pgdir=$(mktemp -d /tmp/his-fault-pg.XXXXXX)
report=$(mktemp /tmp/his-fault-report.XXXXXX)
trap 'tests/lib/pgcluster.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
export HIS_TEST_PGHOST=$(tests/lib/pgcluster.sh start "$pgdir")
psql -h "$HIS_TEST_PGHOST" -U postgres -d postgres -qc "CREATE DATABASE his_template" >/dev/null
tpl="host=$HIS_TEST_PGHOST user=postgres dbname=his_template"
"$HIS_BIN" db migrate --database-url "$tpl" >/dev/null
"$HIS_BIN" seed demo --database-url "$tpl" >/dev/null
start=$(date +%s)
HIS_FAULT_KILLS=$kills HIS_FAULT_REPORT=$report node --test --test-timeout=3600000 tests/api/fault_kill.test.mjs
echo "fault_kill: $kills kills in $(( $(date +%s) - start )) s; figures:"
cat "$report"; echo
rm -f "$report"
