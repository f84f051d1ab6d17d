#!/usr/bin/env bash
# bench/fuzz.sh [SECONDS] [TARGET...] -- runs each libFuzzer target (the HL7
# parser hl7/fuzz_parse and tests/fuzz: mllp router claims csv config) for
# SECONDS (default 600, 10 minutes) on its seed corpus and reports the
# executions, executions per second, coverage (cov: edges) and features
# (ft:) from libFuzzer's final stats, one line per target. Crashes go to
# build/fuzz-bench/<target>/artifacts and make the script exit non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
secs=${1:-600}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(hl7 mllp router claims csv config)
scripts/build.sh test >/dev/null
make -s -C build/test hl7/fuzz_parse fuzz-build >/dev/null
out="$top/build/fuzz-bench"; mkdir -p "$out"
rc=0
printf '%-8s %10s %12s %8s %8s %8s %s\n' target seconds executions exec/s cov ft crashes
for t in "${targets[@]}"; do
    w="$out/$t"; mkdir -p "$w/corpus" "$w/artifacts"
    if [ "$t" = hl7 ]; then
        bin=build/test/hl7/fuzz_parse; seeds=("$top/tests/fuzz/hl7" "$top/tests/fixtures/hl7"); dict="-dict=$top/hl7/fuzz.dict"
    else
        bin=build/test/tests/fuzz/fuzz_$t; seeds=("$top/tests/fuzz/$t"); dict=""
        [ -f "$top/tests/fuzz/$t.dict" ] && dict="-dict=$top/tests/fuzz/$t.dict"
    fi
    log="$w/fuzz.log"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        $dict -artifact_prefix="$w/artifacts/" "$w/corpus" "${seeds[@]}" >"$log" 2>&1 || rc=1
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    eps=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
    last=$(grep -E '(DONE|pulse|NEW|REDUCE)  *cov:' "$log" | tail -1)
    cov=$(echo "$last" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
    ft=$(echo "$last" | sed -nE 's/.*ft: ([0-9]+).*/\1/p')
    crashes=$(find "$w/artifacts" -type f | wc -l)
    printf '%-8s %10s %12s %8s %8s %8s %s\n' "$t" "$secs" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
done
exit $rc
