#!/bin/sh
# build.sh SRCDIR OUTDIR -- builds the libFuzzer targets of tests/fuzz with
# clang (-fsanitize=fuzzer,address,undefined), whatever CC the build uses.
# Objects go to OUTDIR/obj and are rebuilt when their source, or any header
# of the tree, is newer. Environment (set by tests/fuzz/local.mk):
#   FUZZ_CC, FUZZ_CFLAGS, FUZZ_PKG_CFLAGS (pkg-config flags), FUZZ_LIBS,
#   FUZZ_SRCS (the his binary's sources), FUZZ_HL7_SRCS (libhl7's).
set -eu
if [ "$1" = --cc ]; then # --cc SRCDIR OUTDIR FILE: one object (run by xargs below)
    src=$2; out=$3; f=$4
    o="$out/obj/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')"
    # shellcheck disable=SC2086
    exec ${FUZZ_CC:-clang} $FUZZ_CFLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined \
        -fsanitize=fuzzer-no-link -I"$src" -DHIS_SRCDIR="\"$src\"" -DCLAIMS_XSD="\"$src/schema/xsd\"" \
        $FUZZ_PKG_CFLAGS -c "$src/$f" -o "$o"
fi
src=$1
out=$2
cc=${FUZZ_CC:-clang}
FUZZ_CFLAGS=${FUZZ_CFLAGS:-"-g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer"}
export FUZZ_CC FUZZ_CFLAGS FUZZ_PKG_CFLAGS
cflags=$FUZZ_CFLAGS
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$out/obj"

# The his binary's sources without main(), and libhl7's.
his=""
for f in $FUZZ_SRCS; do
    case $f in *.c)
        # main() stays out; a source listed but not yet written (someone's
        # work in progress) is skipped: the link says if it was needed.
        [ "$f" = his/main.c ] || [ ! -f "$src/$f" ] || his="$his $f" ;;
    esac
done
hl7=""
for f in $FUZZ_HL7_SRCS; do
    case $f in *.c) hl7="$hl7 $f" ;; esac
done

stamp="$out/obj/.headers"
if [ ! -f "$stamp" ] || [ -n "$(find "$src/core" "$src/his" "$src/hl7" "$src/pharmacy" "$src/claims" \
        -name '*.h' -newer "$stamp" 2>/dev/null | head -1)" ]; then
    rm -f "$out"/obj/*.o
    touch "$stamp"
fi

compile_list=""
for f in $his $hl7; do
    o="$out/obj/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')"
    if [ ! -f "$o" ] || [ "$src/$f" -nt "$o" ]; then
        compile_list="$compile_list $f"
    fi
done
if [ -n "$compile_list" ]; then
    echo "fuzz build: compiling$(echo "$compile_list" | wc -w | sed 's/^/ /') files"
    # shellcheck disable=SC2086
    printf '%s\n' $compile_list | xargs -P "$(nproc)" -n 1 sh "$0" --cc "$src" "$out"
fi

objs() {
    for f in "$@"; do printf '%s ' "$out/obj/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')"; done
}
all_objs=$(objs $his $hl7)
hl7_objs=$(objs $hl7)
link() { # target harness objs...
    t=$1; h=$2; shift 2
    if [ ! -x "$out/$t" ] || [ "$src/tests/fuzz/$h" -nt "$out/$t" ] || \
       [ -n "$(find "$out/obj" -name '*.o' -newer "$out/$t" | head -1)" ]; then
        echo "fuzz build: $t"
        # shellcheck disable=SC2086
        $cc $cflags $san -fsanitize=fuzzer -I"$src" -DCLAIMS_XSD="\"$src/schema/xsd\"" $FUZZ_PKG_CFLAGS "$src/tests/fuzz/$h" "$@" \
            $FUZZ_LIBS -lpthread -lm -o "$out/$t"
    fi
}
# shellcheck disable=SC2086
link fuzz_mllp fuzz_mllp.c $hl7_objs
# shellcheck disable=SC2086
link fuzz_router fuzz_router.c $all_objs
# shellcheck disable=SC2086
link fuzz_claims fuzz_claims.c $all_objs
# shellcheck disable=SC2086
link fuzz_csv fuzz_csv.c $all_objs
# shellcheck disable=SC2086
link fuzz_config fuzz_config.c $all_objs
