#!/bin/sh
# smoke.sh SRCDIR OUTDIR SECONDS TARGET... -- for each target: replays its
# seed corpus tests/fuzz/<name>/ (regression inputs of crashes found
# included; any crash fails at once), then fuzzes for SECONDS with new
# inputs kept in OUTDIR/work/<name>/corpus and crashes written to
# OUTDIR/work/<name>/artifacts. Targets are named without "fuzz_"
# (mllp, router, claims, csv, config). Exit status 0 when nothing failed.
set -u
src=$1; out=$2; secs=$3; shift 3
rc=0
for t in "$@"; do
    bin="$out/fuzz_$t"
    seeds="$src/tests/fuzz/$t"
    work="$out/work/$t"
    mkdir -p "$work/corpus" "$work/artifacts"
    dict=""
    [ -f "$src/tests/fuzz/$t.dict" ] && dict="-dict=$src/tests/fuzz/$t.dict"
    echo "fuzz smoke $t: replaying $seeds"
    if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -runs=0 -max_len=1100000 $dict \
            -artifact_prefix="$work/artifacts/" "$seeds"; then
        echo "fuzz smoke $t: FAILED on a seed"; rc=1; continue
    fi
    echo "fuzz smoke $t: fuzzing for $secs s"
    if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 $dict \
            -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"; then
        echo "fuzz smoke $t: FAILED (artifacts in $work/artifacts)"; rc=1; continue
    fi
    echo "fuzz smoke $t: passed"
done
exit $rc
