#!/usr/bin/env bash
# The test command: installs what is missing, builds with AddressSanitizer and
# UndefinedBehaviorSanitizer, runs the unit tests (Check), then the API and
# browser tests against a real PostgreSQL cluster started here, and ends with
# one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scripts/install-deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }
scripts/build.sh test || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

logs="$top/build/test/logs"
rm -rf "$logs"; mkdir -p "$logs"
passed=0; failed=0

# 1. Unit tests (Check) through automake's harness.
( cd build/test && make -j"$(nproc)" check >"$logs/unit.out" 2>&1 )
for f in build/test/tests/unit/*.log; do
    [ -f "$f" ] || continue
    line=$(grep -E '^[0-9]+%: Checks: ' "$f" | tail -1)
    if [ -n "$line" ]; then
        n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
        fl=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
        er=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
        passed=$((passed + n - fl - er)); failed=$((failed + fl + er))
        echo "unit $(basename "$f" .log): $line"
    else
        echo "unit $(basename "$f" .log): no Check summary (crashed?)"; failed=$((failed + 1))
    fi
    grep -E ':[0-9]+:[EF]:' "$f" | head -20
done

# 1b. HL7 parser fuzz smoke (libFuzzer, clang): seeds and fixtures replayed,
# then 20 s of fuzzing; counts as one test.
if make -C build/test hl7-fuzz-smoke HL7_FUZZ_SECONDS=20 >"$logs/hl7-fuzz.out" 2>&1; then
    passed=$((passed + 1)); echo "hl7 fuzz smoke: passed"
else
    failed=$((failed + 1)); echo "hl7 fuzz smoke: FAILED (build/test/logs/hl7-fuzz.out)"
    tail -30 "$logs/hl7-fuzz.out"
fi

# 2. A private PostgreSQL cluster and a template database, migrated and seeded once.
pgdir=$(mktemp -d /tmp/his-test-pg.XXXXXX)
cleanup() { tests/lib/pgcluster.sh stop "$pgdir"; rm -rf "$pgdir"; }
trap cleanup EXIT
export HIS_TEST_PGHOST=$(tests/lib/pgcluster.sh start "$pgdir")
export HIS_BIN="$top/build/test/his/his"
export ASAN_OPTIONS=detect_leaks=1
psql -h "$HIS_TEST_PGHOST" -U postgres -d postgres -qc "CREATE DATABASE his_template" >/dev/null
tpl="host=$HIS_TEST_PGHOST user=postgres dbname=his_template"
if ! "$HIS_BIN" db migrate --database-url "$tpl" >"$logs/template.out" 2>&1 || \
   ! "$HIS_BIN" seed demo --database-url "$tpl" >>"$logs/template.out" 2>&1; then
    cat "$logs/template.out"; failed=$((failed + 1))
fi

# 3. API and browser tests (node's test runner, TAP to a file, spec on screen).
run_node() {
    local name=$1; shift
    [ -n "$(ls "$@" 2>/dev/null)" ] || return 0
    node --test --test-concurrency=2 --test-timeout=300000 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$logs/$name.tap" "$@"
    local p f
    p=$(grep -E '^# pass [0-9]+' "$logs/$name.tap" | tail -1 | awk '{print $3}')
    f=$(grep -E '^# fail [0-9]+' "$logs/$name.tap" | tail -1 | awk '{print $3}')
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
}
run_node api tests/api/*.test.mjs
run_node e2e tests/e2e/*.test.mjs

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
