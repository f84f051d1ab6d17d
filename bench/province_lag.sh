#!/usr/bin/env bash
# Replication lag at the province with N districts writing visits, and a
# district's write rate with and without a subscriber (issue 8 benchmarks;
# docs/province.md). Each district and the province is its own private
# cluster (tests/lib/pgcluster.sh: unix sockets, fsync off — so absolute
# write rates are above a durable server's; the comparison is what counts).
#   N=3 SECS=30 CLIENTS=2 bench/province_lag.sh
# Prints: per-district visits/s while replicating, the province's lag sampled
# every second (max bytes behind, max seconds from a visit's commit at the
# district to its arrival at the province), catch-up time after the writes
# stop, and the write rate of one district with no subscriber.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-3}
secs=${SECS:-30}
clients=${CLIENTS:-2}
bin=${HIS_BIN:-build/run/his/his}
[ -x "$bin" ] || bin=build/test/his/his
export ASAN_OPTIONS=detect_leaks=0
root=$(mktemp -d /tmp/his-bench-prov.XXXXXX); chmod 755 "$root"
codes=(); for i in $(seq 1 "$n"); do codes+=("$(printf '19D%02d' "$i")"); done
cleanup() { for d in "$root"/*/; do tests/lib/pgcluster.sh stop "$d" >/dev/null 2>&1 || true; done; rm -rf "$root"; }
trap cleanup EXIT

start() { # code -> socket folder
    local h; h=$(tests/lib/pgcluster.sh start "$root/$1")
    psql -h "$h" -U postgres -qc "CREATE DATABASE his" >/dev/null
    "$bin" db migrate --database-url "host=$h user=postgres dbname=his" >/dev/null
    "$bin" province node --code "$1" --database-url "host=$h user=postgres dbname=his" >/dev/null
    psql -h "$h" -U postgres -d his -qc "INSERT INTO core.facilities (code, name, level, province_code) VALUES
        ('$1', 'Bench $1', 'district_hospital', '19') ON CONFLICT DO NOTHING" >/dev/null
    echo "$h"
}
q() { psql -h "$1" -U postgres -d his -qAt -c "$2"; }

declare -A host
host[19001]=$(start 19001)
for c in "${codes[@]}"; do
    host[$c]=$(start "$c")
    fid=$(q "${host[$c]}" "SELECT id FROM core.facilities WHERE code = '$c'")
    q "${host[$c]}" "INSERT INTO clinical.patients (facility_id, full_name, name_fold, birth_year)
        SELECT $fid, 'Bệnh nhân ' || g, 'benh nhan ' || g, 1950 + g % 60 FROM generate_series(1, 1000) g" >/dev/null
    cat > "$root/$c.sql" <<SQL
\set p random(0, 999)
INSERT INTO clinical.visits (facility_id, patient_id, ma_lk, kind, received_at)
SELECT $fid, min(id) + :p, '$c' || to_char(clock_timestamp(), 'YYMMDDHH24MISSUS') || (random() * 1e6)::int, 'outpatient', clock_timestamp()
FROM clinical.patients;
SQL
done
rate() { # code seconds -> visits/s
    pgbench -n -h "${host[$1]}" -U postgres -c "$clients" -j "$clients" -T "$2" -f "$root/$1.sql" his 2>/dev/null |
        sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1
}

echo "== write rate of one district without a subscriber (${secs}s, $clients clients)"
base=$(rate "${codes[0]}" "$secs")
echo "district ${codes[0]}: $base visits/s (no subscriber)"

for c in "${codes[@]}"; do
    "$bin" province add-district --code "$c" --database-url "host=${host[19001]} user=postgres dbname=his" \
        --conninfo "$("$bin" db conninfo --replication --database-url "host=${host[$c]} user=postgres dbname=his")" >/dev/null
done
until [ "$(q "${host[19001]}" "SELECT count(*) FILTER (WHERE srsubstate <> 'r') FROM pg_subscription_rel")" = 0 ]; do sleep 1; done

echo "== $n districts writing for ${secs}s ($clients clients each) while the province subscribes"
for c in "${codes[@]}"; do (rate "$c" "$secs" > "$root/$c.rate") & done
maxb=0; maxs=0
for t in $(seq 1 "$secs"); do
    sleep 1
    b=$("$bin" province status --json --database-url "host=${host[19001]} user=postgres dbname=his" |
        python3 -c 'import sys,json; print(max([d.get("lag_bytes",0) for d in json.load(sys.stdin)] or [0]))')
    # Seconds between the newest visit at each district and the newest of
    # that district at the province, read at the same moment.
    s=0
    for c in "${codes[@]}"; do
        dn=$(q "${host[$c]}" "SELECT extract(epoch FROM max(received_at)) FROM clinical.visits")
        pn=$(q "${host[19001]}" "SELECT extract(epoch FROM max(received_at)) FROM clinical.visits WHERE facility_id = (SELECT id FROM core.facilities WHERE code = '$c')")
        s=$(python3 -c "print(max($s, round(${dn:-0} - ${pn:-0}, 3)))")
    done
    [ "$b" -gt "$maxb" ] && maxb=$b
    maxs=$(python3 -c "print(max($maxs, $s))")
done
wait
total=0
for c in "${codes[@]}"; do r=$(cat "$root/$c.rate"); echo "district $c: $r visits/s (subscribed)"; total=$(python3 -c "print($total + ${r:-0})"); done
t0=$(date +%s.%N)
for c in "${codes[@]}"; do
    want=$(q "${host[$c]}" "SELECT count(*) FROM clinical.visits")
    fid=$(q "${host[$c]}" "SELECT id FROM core.facilities WHERE code = '$c'")
    until [ "$(q "${host[19001]}" "SELECT count(*) FROM clinical.visits WHERE facility_id = $fid")" = "$want" ]; do sleep 0.2; done
done
t1=$(date +%s.%N)
echo "all districts: $total visits/s; province lag while writing: max ${maxb} bytes, newest visit at most ${maxs}s behind its district; caught up $(python3 -c "print(round($t1 - $t0, 2))")s after the writes stopped"
alone=$(rate "${codes[0]}" "$secs")
echo "one district writing alone: $base visits/s without subscriber, $alone with the province subscribed"
