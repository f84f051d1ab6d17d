#!/usr/bin/env bash
# Dashboard chart latency (issue 8 point 4): p50/p99 of every chart through
# HTTP, for the whole province and for one district, on a generated province
# with years of visits. The rollups are filled as the visits go in (the
# statement triggers of schema/010_dashboard.sql, the same path as any local
# write), and the time that takes is printed too.
#   PEOPLE, HOUSEHOLDS  his seed province sizes (default the full province:
#                       2023343 and 464715, 93 commune stations)
#   YEARS               years of visits (default 3)
#   PER_DAY             visits per station per day (default 40; with the demo
#                       hospitals' share, ~3.9 M visits a year at full size)
#   N                   requests per chart and filter (default 100)
# Uses build/run/his/his (scripts/build.sh run) and a private durable cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PEOPLE=${PEOPLE:-2023343}
HOUSEHOLDS=${HOUSEHOLDS:-464715}
YEARS=${YEARS:-3}
PER_DAY=${PER_DAY:-40}
N=${N:-100}

bench_start_cluster
trap bench_stop_cluster EXIT
psql_b() { psql -h "$bench_pg/run" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"; }

"$bench_bin" db migrate --database-url "$bench_db" >/dev/null
"$bench_bin" seed demo --database-url "$bench_db" >/dev/null
t0=$(date +%s)
"$bench_bin" seed province --people "$PEOPLE" --households "$HOUSEHOLDS" --seed 1 --database-url "$bench_db" | tail -1
t1=$(date +%s)
echo "province: $PEOPLE people, $HOUSEHOLDS households in $((t1 - t0)) s"

# Half the generated stations belong to district 19010, half to 19020.
psql_b -c "UPDATE core.facilities f SET parent_id = (SELECT id FROM core.facilities WHERE code = CASE WHEN f.id % 2 = 0 THEN '19010' ELSE '19020' END) WHERE f.code LIKE '19G%'"

# Visits: PER_DAY a day at every station (2 x at the hospitals), one month per
# statement, patients of the station, a primary diagnosis drawn from the
# catalogue with a seasonal notifiable share, 3 % referred.
psql_b <<SQL
CREATE TABLE public.bench_fac AS SELECT f.id, f.code, f.level, min(p.id) AS lo, max(p.id) AS hi
    FROM core.facilities f JOIN clinical.patients p ON p.facility_id = f.id GROUP BY f.id, f.code, f.level;
CREATE TABLE public.bench_codes AS SELECT array_agg(code ORDER BY code) AS c FROM catalog.icd10 WHERE valid AND main_allowed;
ALTER TABLE clinical.visits DISABLE TRIGGER visits_closed_primary;
SQL
t0=$(date +%s)
for m in $(seq $((YEARS * 12 - 1)) -1 0); do
    psql_b <<SQL
CREATE TEMP TABLE nv AS
SELECT nextval('clinical.visits_id_seq') AS id, fac.id AS facility_id, fac.code,
       fac.lo + floor(random() * (fac.hi - fac.lo + 1))::bigint AS patient_id,
       d + (interval '7 hours') + random() * interval '10 hours' AS at
FROM public.bench_fac fac, generate_series(date_trunc('month', current_date) - interval '$m months',
                          least(date_trunc('month', current_date) - interval '$m months' + interval '1 month' - interval '1 day',
                                current_date - 1), interval '1 day') d,
     generate_series(1, CASE WHEN fac.level = 'commune_station' THEN $PER_DAY ELSE 2 * $PER_DAY END) k;
INSERT INTO clinical.visits (id, facility_id, patient_id, ma_lk, kind, state, received_at, referral_to, referral_reason)
SELECT id, facility_id, patient_id, code || lpad(id::text, 12, '0'), 'outpatient', 'open', at,
       CASE WHEN random() < 0.03 AND code <> '19001' THEN '19001' END, 'bench'
FROM nv;
INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary)
SELECT nv.id, nv.facility_id, 0,
       CASE WHEN random() < 0.02 THEN (ARRAY['A90', 'A91', 'B08.4', 'B05.9', 'J11.1'])[1 + floor(random() * 5)::int]
            ELSE b.c[1 + floor(power(random(), 3) * array_length(b.c, 1))::int] END, true
FROM nv, public.bench_codes b;
SQL
done
t1=$(date +%s)
psql_b -c "ANALYZE"
nvis=$(psql_b -c "SELECT count(*) FROM clinical.visits")
echo "visits: $nvis over $YEARS years, rollups kept by the triggers while loading: $((t1 - t0)) s"
psql_b -c "SELECT 'rollup rows: ' || string_agg(t || ' ' || n, ', ') FROM (
  SELECT 'visits_daily' t, count(*) n FROM dash.visits_daily UNION ALL SELECT 'diagnoses_monthly', count(*) FROM dash.diagnoses_monthly
  UNION ALL SELECT 'diagnoses_daily', count(*) FROM dash.diagnoses_daily UNION ALL SELECT 'notifiable_weekly', count(*) FROM dash.notifiable_weekly
  UNION ALL SELECT 'record_coverage', count(*) FROM dash.record_coverage UNION ALL SELECT 'referrals_daily', count(*) FROM dash.referrals_daily) x"

bench_serve
tok=$(bench_login syt.thu)
to=$(psql_b -c "SELECT to_char(current_date, 'YYYY-MM-DD')")
from=$(psql_b -c "SELECT to_char(current_date - 364, 'YYYY-MM-DD')")
printf '%-22s %-10s %8s %8s %8s %7s\n' chart filter p50_ms p99_ms max_ms rows
for chart in visits-per-day top-diagnoses notifiable-diseases record-coverage prescriptions claims referrals; do
    for district in "" 19010; do
        url="$bench_url/api/v1/dashboard/$chart?from=$from&to=$to${district:+&district=$district}"
        rows=$(curl -s -H "Authorization: Bearer $tok" "$url" | python3 -c 'import sys, json; print(len(json.load(sys.stdin)["rows"]))')
        for _ in $(seq 1 "$N"); do
            curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $tok" "$url"
        done | sort -n | awk -v c="$chart" -v f="${district:-province}" -v r="$rows" '
            { t[NR] = $1 * 1000 } END {
              p50 = t[int(NR * 0.50 + 0.5)]; p99 = t[int(NR * 0.99 + 0.5)]; if (p99 == "") p99 = t[NR];
              printf "%-22s %-10s %8.1f %8.1f %8.1f %7d\n", c, f, p50, p99, t[NR], r }'
    done
done
