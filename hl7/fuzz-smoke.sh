#!/bin/sh
# fuzz-smoke.sh FUZZER SECONDS SRCDIR WORKDIR
# Replays the seed corpus and every HL7 fixture through the fuzz target
# (any crash fails at once), then fuzzes for SECONDS with new inputs kept in
# WORKDIR/corpus and crashes written to WORKDIR/artifacts. Exit status is
# the fuzzer's: 0 when nothing was found.
set -eu
fuzzer=$1
secs=${2:-20}
src=${3:-.}
work=${4:-hl7/fuzz-work}
seeds="$src/tests/fuzz/hl7"
fixtures="$src/tests/fixtures/hl7"
mkdir -p "$work/corpus" "$work/artifacts"
dict=""
[ -f "$src/hl7/fuzz.dict" ] && dict="-dict=$src/hl7/fuzz.dict"

echo "hl7 fuzz smoke: replaying seeds and fixtures"
"$fuzzer" -runs=0 -max_len=1100000 $dict \
    -artifact_prefix="$work/artifacts/" "$seeds" "$fixtures"

echo "hl7 fuzz smoke: fuzzing for $secs s"
exec "$fuzzer" -max_total_time="$secs" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 $dict \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
