#!/usr/bin/env bash
# Issue 3 benchmark: HL7 v2 parse + serialise of the same messages, side by
# side in one run: libhl7 (C, this repo) against the npm packages hl7parser
# and simple-hl7 and Debian's python3-hl7. Prints messages/s (median of the
# timed passes, after a warm-up pass) and the ratio of ours to each.
#
# Usage: bench/hl7/run.sh [messages] [repetitions]     (default 100000 5)
# Env:   HL7_BENCH_CPU=1   the one CPU every implementation is pinned to
#        HL7_BENCH_ONLY="c simple-hl7"   run a subset (c hl7parser
#                          simple-hl7 python3-hl7)
#
# Input: every message of tests/fixtures/hl7/good/*.hl7 that is UTF-8 (the
# Latin-1 one is left out: the other libraries work on Unicode strings),
# split with hl7_iter, written with CR segment ends, one per line, repeated
# in order up to [messages]. Every implementation reads that same file.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
n=${1:-100000}
reps=${2:-5}
cpu=${HL7_BENCH_CPU:-1}
only=${HL7_BENCH_ONLY:-c hl7parser simple-hl7 python3-hl7}
py=/usr/bin/python3   # Debian's python, where python3-hl7 lives

# What the comparison needs, installed when missing.
if [ ! -f bench/hl7/node_modules/.package-lock.json ] || \
   [ bench/hl7/package-lock.json -nt bench/hl7/node_modules/.package-lock.json ]; then
    npm ci --prefix bench/hl7 --no-audit --no-fund >/dev/null
fi
if ! "$py" -c 'import hl7' 2>/dev/null; then
    apt-get install -y -q python3-hl7 >/dev/null || {
        apt-get update -q >/dev/null; apt-get install -y -q python3-hl7 >/dev/null; }
fi

scripts/build.sh run >/dev/null
work=$(mktemp -d /tmp/his-bench-hl7.XXXXXX)
trap 'rm -rf "$work"' EXIT
gcc -O2 -std=gnu11 -I"$top" -o "$work/bench_c" bench/hl7/bench_c.c \
    build/run/hl7/libhl7.a -lxml2 -lssl -lcrypto
"$work/bench_c" corpus "$work/corpus.txt" "$n" tests/fixtures/hl7/good/*.hl7

pin=()
command -v taskset >/dev/null && pin=(taskset -c "$cpu")
ours="$(git rev-parse --short HEAD)"
[ -z "$(git status --porcelain -- hl7)" ] || ours="$ours+local changes"
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), each implementation pinned to CPU $cpu; $n messages, 1 warm-up + $reps timed passes" >&2

for impl in $only; do
    echo "running $impl..." >&2
    case $impl in
        c) "${pin[@]}" "$work/bench_c" run "$work/corpus.txt" "$reps" |
               sed "s/^{/{\"version\":\"$ours\",/" ;;
        hl7parser|simple-hl7)
           "${pin[@]}" node bench/hl7/bench_node.mjs "$impl" "$work/corpus.txt" "$reps" ;;
        python3-hl7)
           "${pin[@]}" "$py" bench/hl7/bench_py.py "$work/corpus.txt" "$reps" ;;
        *) echo "unknown implementation $impl" >&2; exit 2 ;;
    esac
done > "$work/results.jsonl"

echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$py" - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ours = next((r for r in rows if r["impl"].startswith("libhl7")), None)
n = lambda x: format(round(x), ",")
print("| implementation | version | msgs/s (median, wall) | min - max | MB/s | ours / it | msgs/s per CPU second | ours / it (CPU) | round trip: identical / same segments |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for r in rows:
    if ours is None:
        ratio = cratio = "-"
    elif r is ours:
        ratio = cratio = "1"
    else:
        ratio = "%.1fx" % (ours["median"] / r["median"])
        cratio = "%.1fx" % (ours["cpu_median"] / r["cpu_median"])
    print("| %s | %s | %s | %s - %s | %.0f | %s | %s | %s | %d / %d of %d |" % (
        r["impl"], r["version"], n(r["median"]), n(min(r["rates"])),
        n(max(r["rates"])), r["median"] * r["bytes"] / r["messages"] / 1e6,
        ratio, n(r["cpu_median"]), cratio,
        r["identical"], r["same_segments"], r["messages"]))
others = [r for r in rows if r is not ours]
if ours and others:
    fastest = max(others, key=lambda r: r["median"])
    x = ours["median"] / fastest["median"]
    cx = ours["cpu_median"] / max(r["cpu_median"] for r in others)
    print("\nfastest other: %s; ours is %.1f times it by wall clock, %.1f by CPU"
          " time (goal: 20): %s" % (fastest["impl"], x, cx,
                                    "met" if min(x, cx) >= 20 else "NOT met"))
PY
