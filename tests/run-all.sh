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

# 1c. The other libFuzzer targets (tests/fuzz: MLLP framer, router, claims
# XML builder, CSV loaders, config reader): seeds replayed, then a few
# seconds each; one test per target.
if make -C build/test fuzz-build >"$logs/fuzz-build.out" 2>&1; then
    for t in $(make -s -C build/test fuzz-list); do
        if make -C build/test fuzz-smoke FUZZ_TARGETS="$t" FUZZ_SECONDS=6 >"$logs/fuzz-$t.out" 2>&1; then
            passed=$((passed + 1)); echo "fuzz smoke $t: passed"
        else
            failed=$((failed + 1)); echo "fuzz smoke $t: FAILED (build/test/logs/fuzz-$t.out)"
            tail -30 "$logs/fuzz-$t.out"
        fi
    done
else
    failed=$((failed + 1)); echo "fuzz build: FAILED (build/test/logs/fuzz-build.out)"; tail -30 "$logs/fuzz-build.out"
fi

# 1d. Lint: no SQL built by string concatenation; hardening of the release
# binary (PIE, full RELRO, stack protector, FORTIFY). One test each.
for l in no_sql_concat hardening; do
    if tests/lint/$l.sh >"$logs/lint-$l.out" 2>&1; then
        passed=$((passed + 1)); echo "lint $l: passed"
    else
        failed=$((failed + 1)); echo "lint $l: FAILED (build/test/logs/lint-$l.out)"; tail -30 "$logs/lint-$l.out"
    fi
done

# 2. A private PostgreSQL cluster and a template database, migrated and seeded once.
pgdir=$(mktemp -d /tmp/his-test-pg.XXXXXX)
cleanup() { tests/lib/pgcluster.sh stop "$pgdir"; rm -rf "$pgdir"; }
trap cleanup EXIT
export HIS_TEST_PGHOST=$(tests/lib/pgcluster.sh start "$pgdir")
export HIS_BIN="$top/build/test/his/his"
export ASAN_OPTIONS=detect_leaks=1
export HIS_TEST_LOG_DIR="$logs/servers"   # every test server's stderr, for the secrets check below
# Servers started by tests/lib/server.mjs write LeakSanitizer reports here (checked at the end).
export HIS_LSAN_DIR="$logs/lsan"
mkdir -p "$HIS_LSAN_DIR"
psql -h "$HIS_TEST_PGHOST" -U postgres -d postgres -qc "CREATE DATABASE his_template" >/dev/null
tpl="host=$HIS_TEST_PGHOST user=postgres dbname=his_template"
if ! "$HIS_BIN" db migrate --database-url "$tpl" >"$logs/template.out" 2>&1 || \
   ! "$HIS_BIN" seed demo --database-url "$tpl" >>"$logs/template.out" 2>&1; then
    cat "$logs/template.out"; failed=$((failed + 1))
fi

# 2b. core/db.c against that cluster (Check; built with the unit tests).
if HIS_TEST_PGHOST="$HIS_TEST_PGHOST" build/test/tests/unit/test_db >"$logs/test_db.out" 2>&1 &&
   ! grep -q skipped "$logs/test_db.out"; then
    passed=$((passed + 1)); echo "db (core/db.c on PostgreSQL): passed"
else
    failed=$((failed + 1)); echo "db (core/db.c on PostgreSQL): FAILED (build/test/logs/test_db.out)"; tail -30 "$logs/test_db.out"
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

# 4. Secrets never in logs: the server logs of this run hold no password, token or CCCD; one test.
if tests/secrets_in_logs.sh "$HIS_TEST_LOG_DIR" >"$logs/secrets.out" 2>&1; then
    passed=$((passed + 1)); tail -1 "$logs/secrets.out"
else
    failed=$((failed + 1)); echo "secrets in logs: FAILED"; cat "$logs/secrets.out"
fi

# 4. No leak reported by a his serve of the API tests (LeakSanitizer at exit after SIGTERM): one test.
sleep 1
leaks=$(grep -l -E 'LeakSanitizer|ERROR: AddressSanitizer' "$HIS_LSAN_DIR"/* 2>/dev/null)
if [ -z "$leaks" ]; then
    passed=$((passed + 1)); echo "leak check of his serve: passed"
else
    failed=$((failed + 1)); echo "leak check of his serve: FAILED ($(echo "$leaks" | wc -l) report(s) in build/test/logs/lsan)"
    for f in $leaks; do grep -E '^(Direct|Indirect) leak|^    #[0-9]+ ' "$f" | head -12; done
fi

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
