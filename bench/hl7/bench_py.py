#!/usr/bin/env python3
"""bench_py.py -- issue 3 benchmark, the Python side: parse + serialise with
Debian's python3-hl7.

    python3 bench/hl7/bench_py.py CORPUS REPS

The corpus (one message a line, CR segment ends, UTF-8) is read and split
into str before timing: the library works on str, so UTF-8 decoding is not
counted against it. hl7.parse() splits eagerly down to subcomponents;
str(message) rebuilds the ER7 text from the tree (its documented
serialiser, "str(hl7.parse(message)) == message"). A warm-up pass (also the
round-trip check) comes first, then REPS timed passes. Prints one JSON line
like bench_c.
"""
import json
import sys
import time

import hl7
from hl7.version import get_version


def main():
    path, reps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with open(path, encoding="utf-8", newline="") as f:
        msgs = [m for m in f.read().split("\n") if m]
    nbytes = sum(len(m.encode("utf-8")) for m in msgs)
    parse = hl7.parse

    identical = same = expect = 0
    for m in msgs:
        out = str(parse(m))
        identical += out == m
        same += len([s for s in out.split("\r") if s]) == len(
            [s for s in m.split("\r") if s])
        expect += len(out)

    rates, cpu = [], []
    for r in range(reps):
        got = 0
        t0 = time.perf_counter()
        c0 = time.process_time()
        for m in msgs:
            got += len(str(parse(m)))
        cpu.append(len(msgs) / (time.process_time() - c0))
        t = time.perf_counter() - t0
        if got != expect:
            sys.exit(f"pass {r}: {got} characters out, expected {expect}")
        rates.append(len(msgs) / t)
    def median(v):
        s = sorted(v)
        n = len(s)
        return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    print(json.dumps({
        "impl": "python3-hl7 (Python %d.%d)" % sys.version_info[:2],
        "version": get_version(), "messages": len(msgs), "bytes": nbytes,
        "identical": identical, "same_segments": same, "out_chars": expect,
        "rates": [round(x, 1) for x in rates], "median": round(median(rates), 1), "cpu_median": round(median(cpu), 1),
    }))


if __name__ == "__main__":
    main()
