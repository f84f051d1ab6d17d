#!/usr/bin/env bash
# tests/lint/hardening.sh [BINARY] -- checksec-style check of the release
# binary (default build/run/his/his, built with scripts/build.sh run when
# missing or older than the sources): PIE (ELF type DYN), full RELRO
# (GNU_RELRO segment and BIND_NOW), stack protector (__stack_chk_fail
# imported) and FORTIFY (some __*_chk function imported). Fails if any is
# missing. The sanitizer build (build/test) is not checked for FORTIFY:
# configure leaves _FORTIFY_SOURCE out there, AddressSanitizer does not
# support it.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build/run/his/his}
if [ $# -eq 0 ]; then
    if [ ! -x "$bin" ] || [ -n "$(find core his pharmacy claims hl7 configure.ac -newer "$bin" \( -name '*.c' -o -name '*.h' -o -name configure.ac \) 2>/dev/null | head -1)" ]; then
        scripts/build.sh run >/dev/null || { echo "hardening: cannot build $bin"; exit 1; }
    fi
fi
[ -x "$bin" ] || { echo "hardening: no binary $bin"; exit 1; }
fail=0
check() { # name ok-flag detail
    if [ "$2" = 1 ]; then echo "ok   $1: $3"; else echo "FAIL $1: $3"; fail=1; fi
}
type=$(readelf -h "$bin" | awk -F: '/Type:/ {gsub(/^ +/, "", $2); print $2}')
[[ $type == DYN* ]] && pie=1 || pie=0
check PIE $pie "ELF type $type"
readelf -lW "$bin" | grep -q GNU_RELRO && relro=1 || relro=0
dyn=$(readelf -dW "$bin")
if echo "$dyn" | grep -qE '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW'; then now=1; else now=0; fi
check RELRO $((relro & now)) "GNU_RELRO segment: $([ $relro = 1 ] && echo yes || echo no), BIND_NOW: $([ $now = 1 ] && echo yes || echo no)"
syms=$(readelf --dyn-syms -W "$bin" | awk '$7 == "UND" {print $8}' | sed 's/@.*//' | sort -u)
echo "$syms" | grep -qx '__stack_chk_fail' && ssp=1 || ssp=0
check "stack protector" $ssp "__stack_chk_fail $([ $ssp = 1 ] && echo imported || echo 'not imported')"
chk=$(echo "$syms" | grep -E '^__.*_chk$' | tr '\n' ' ')
[ -n "$chk" ] && fort=1 || fort=0
check FORTIFY $fort "${chk:-no __*_chk function imported}"
[ $fail -eq 0 ] && echo "hardening: $bin passes" || echo "hardening: $bin FAILS"
exit $fail
