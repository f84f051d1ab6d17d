#!/usr/bin/env bash
# tests/lint/no_sql_concat.sh -- fails when SQL text may be built from a
# string at run time: any arena_printf/snprintf/asprintf/sprintf call in the
# C sources whose format holds an SQL keyword (SELECT, INSERT, UPDATE,
# DELETE, WHERE, SET ROLE, ...) and a string conversion (%s, %.*s, %c) is
# reported, unless it is in tests/lint/sql_concat_allow.txt, the reviewed
# cases (identifiers or fragments from fixed lists in the code, never user
# text). Integers (%d, %lld) are not flagged. Each allow-list line is
# "path<TAB>a substring of the call", so it survives line moves.
set -uo pipefail
cd "$(dirname "$0")/../.."
allow=tests/lint/sql_concat_allow.txt
found=$(find core his pharmacy claims hl7 -name '*.c' -not -name 'fuzz_*' | sort | xargs awk '
    function flush() {
        if (buf != "" && buf ~ /"[^"]*(SELECT|INSERT|UPDATE|DELETE|WHERE|VALUES|SET ROLE|CREATE|DROP|ALTER|GRANT|COPY|TRUNCATE|ORDER BY)[^"]*"/ && buf ~ /%(\.\*)?[sc]/) {
            gsub(/[ \t]+/, " ", buf)
            printf "%s:%d\t%s\n", FILENAME, start, substr(buf, 1, 400)
        }
        buf = ""; depth = 0
    }
    FNR == 1 { buf = ""; depth = 0 }
    {
        line = $0
        if (buf == "") {
            i = match(line, /(arena_printf|snprintf|asprintf|sprintf)[ \t]*\(/)
            if (!i) next
            start = FNR; line = substr(line, i)
        }
        buf = buf " " line
        n = split(line, ch, "")
        for (k = 1; k <= n; k++) { if (ch[k] == "(") depth++; else if (ch[k] == ")") depth-- }
        if (depth <= 0) flush()
    }')
bad=0
while IFS=$'\t' read -r where text; do
    [ -n "$where" ] || continue
    file=${where%%:*}
    ok=0
    while IFS=$'\t' read -r afile asub; do
        case $afile in ''|\#*) continue ;; esac
        if [ "$afile" = "$file" ] && [[ "$text" == *"$asub"* ]]; then ok=1; break; fi
    done <"$allow"
    if [ $ok = 0 ]; then
        echo "SQL built with a string conversion, not in $allow:"
        echo "  $where: $text"
        bad=$((bad + 1))
    fi
done <<<"$found"
total=$(printf '%s\n' "$found" | grep -c . || true)
echo "no_sql_concat: $total formatted SQL calls found, $((total - bad)) reviewed in the allow-list, $bad not"
[ $bad -eq 0 ]
