#!/usr/bin/env bash
# Builds into build/MODE: "run" (optimised) or "test" (AddressSanitizer and
# UndefinedBehaviorSanitizer). Out-of-tree so both can coexist.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
top=$(pwd)
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ] || \
   [ -n "$(find . -name local.mk -newer Makefile.in -not -path './build/*' 2>/dev/null | head -1)" ]; then
    autoreconf -fi >/dev/null
fi
mkdir -p "build/$mode"
cd "build/$mode"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
    case "$mode" in
        test) "$top/configure" -q --enable-sanitizers CFLAGS="-g -O1" ;;
        *)    "$top/configure" -q CFLAGS="-O2 -g" ;;
    esac
fi
make -j"$(nproc)" >/dev/null
echo "built build/$mode/his/his"
