#!/usr/bin/env bash
# Issue 9 point 7: secrets never in logs. After the API and browser tests, greps every server log the run
# produced (tests/lib/server.mjs copies each server's stderr to HIS_TEST_LOG_DIR) for passwords, session and
# CSRF tokens (43-character base64url words, "Bearer ", "his_session=") and the demo patients' CCCD numbers
# (12 digits, read from the template database). Exit 0 when clean; prints each finding (masked) otherwise.
# Usage: tests/secrets_in_logs.sh LOG_DIR [TEMPLATE_DB]   (HIS_TEST_PGHOST set)
set -uo pipefail
dir=${1:?log directory}
tpl=${2:-his_template}
shopt -s nullglob
files=("$dir"/*.log)
if [ ${#files[@]} -eq 0 ]; then
    echo "secrets in logs: no server logs under $dir (was HIS_TEST_LOG_DIR set?)"; exit 1
fi
bad=0
report() { # label, matches
    [ -z "$2" ] && return
    bad=1
    echo "secrets in logs: $1:"
    echo "$2" | head -5 | sed -E 's/[0-9]{12}/<12 digits>/g; s/(.{0,60}).*/  \1.../'
}
# Passwords used by the tests.
for pw in 'Demo@2026' 'Mat-khau-dung-1'; do
    report "password" "$(grep -F -n -- "$pw" "${files[@]}" | sed "s/$pw/<password>/g")"
done
# Tokens: 32 random bytes in base64url are 43 characters; also any bearer header or session cookie text.
report "token-like 43-character word" "$(grep -n -E '(^|[^A-Za-z0-9_-])[A-Za-z0-9_-]{43}([^A-Za-z0-9_=-]|$)' "${files[@]}" |
    grep -E '[A-Z]' | grep -E '[a-z]' | sed -E 's/[A-Za-z0-9_-]{43}/<token>/g')"
report "bearer or session cookie" "$(grep -n -i -E 'Bearer [A-Za-z0-9_-]{20}|his_session=[A-Za-z0-9_-]{20}|csrf[_-]?token["=: ]+[A-Za-z0-9_-]{20}' "${files[@]}")"
# CCCD numbers of the demo patients.
if [ -n "${HIS_TEST_PGHOST:-}" ]; then
    cccd=$(mktemp)
    psql -h "$HIS_TEST_PGHOST" -U postgres -d "$tpl" -qAt -c "SELECT cccd FROM clinical.patients WHERE cccd ~ '^[0-9]{12}\$'" >"$cccd" 2>/dev/null
    n=$(wc -l <"$cccd")
    if [ "$n" -gt 0 ]; then
        report "CCCD number" "$(grep -n -o -w -F -f "$cccd" "${files[@]}" | sed -E 's/[0-9]{12}/<cccd>/')"
    else
        echo "secrets in logs: no CCCD numbers in $tpl to look for"; bad=1
    fi
    rm -f "$cccd"
fi
echo "secrets in logs: ${#files[@]} server log(s), $(cat "${files[@]}" | wc -l) lines checked: $([ $bad -eq 0 ] && echo clean || echo FOUND)"
exit $bad
