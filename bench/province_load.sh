#!/usr/bin/env bash
# Issue 4 benchmark: time to load the generated province (2,023,343 people in
# 464,715 households, `his seed province`) with the optimised build into a
# durable cluster (fsync on), then a year of visits for the stations and one
# patient with 700 visits, for bench/clinical_latency.sh and
# bench/visit_writes.sh. The cluster is kept in $BENCH_PROVINCE_DIR
# (default /tmp/his-bench-province).
# Usage: bench/province_load.sh [people] [households]
#   VISIT_RATE  share of people with visits in the past year, in percent
#               (default 55: 30 % one, 15 % two, 7 % three, 3 % five; ~1 visit a person)
#   HIS_BENCH_BIN  an optimised his binary to use instead of `scripts/build.sh run`
set -euo pipefail
cd "$(dirname "$0")/.."
people=${1:-2023343}; households=${2:-464715}
. bench/province_lib.sh
province_cluster_init
province_binary
province_cluster_start
trap province_cluster_stop EXIT
"$bench_bin" db migrate --database-url "$bench_db" >/dev/null
"$bench_bin" catalog load icd10 schema/data/icd10_demo.csv --database-url "$bench_db" >/dev/null

echo "== his seed province --people $people --households $households --seed 1 (optimised build, fsync on)"
t0=$(date +%s.%N)
"$bench_bin" seed province --people "$people" --households "$households" --seed 1 --database-url "$bench_db"
t1=$(date +%s.%N)
$bench_psql -c "CHECKPOINT"
t2=$(date +%s.%N)
load_s=$(echo "$t1 - $t0" | bc); ckpt_s=$(echo "$t2 - $t1" | bc)
printf 'load: %.1f s (then CHECKPOINT %.1f s: everything on disk)\n' "$load_s" "$ckpt_s"
$bench_psql -c "SELECT 'patients ' || count(*) FROM clinical.patients" -c "SELECT 'households ' || count(*) FROM clinical.households" \
    -c "SELECT 'stations ' || count(*) FROM core.facilities WHERE code LIKE '19G%'"

echo "== visits: a year at the stations (~1 a person), one patient with 700, a doctor per station"
t0=$(date +%s.%N)
$bench_psql -v visit_rate="${VISIT_RATE:-55}" <<'SQL'
CREATE SCHEMA bench;
-- A doctor and a nurse at every generated station (bs.g001.., dd.g001..), password Demo@2026 as yt.g001..
INSERT INTO core.users (username, full_name, role, facility_id, password_hash)
SELECT r.pre || substr(u.username, 5), r.title || f.name, r.role, u.facility_id, u.password_hash
FROM core.users u JOIN core.facilities f ON f.id = u.facility_id
CROSS JOIN (VALUES ('bs.g', 'BS. ', 'doctor'), ('dd.g', 'ĐD. ', 'nurse')) AS r(pre, title, role)
WHERE u.username ~ '^yt\.g[0-9]+$';

BEGIN;
-- Every generated visit is closed with its one primary diagnosis, inserted in
-- this transaction; the deferred per-row check would add a look-up per visit.
ALTER TABLE clinical.visits DISABLE TRIGGER visits_closed_primary;
SELECT coalesce(max(id), 0) AS first_visit FROM clinical.visits \gset
CREATE TEMP TABLE dx AS
    SELECT (row_number() OVER (ORDER BY code) - 1)::int AS i, code FROM catalog.icd10
    WHERE main_allowed AND code IN ('I10', 'E11.9', 'J06.9', 'J02.9', 'J20.9', 'K29.7', 'K29', 'M54.5', 'A09', 'J00',
                                    'R51', 'M19.9', 'E78.5', 'J45.9', 'N39.0', 'L30.9', 'H10.9', 'B35.4', 'K52.9', 'J03.9');
SELECT count(*) AS ndx FROM dx \gset

-- The long history: an elderly patient of the first station (yt.g001), a
-- visit every 3.5 days for 6.7 years (hypertension and diabetes follow-up).
CREATE TABLE bench.loaded AS
SELECT min(p.id) AS heavy_patient_id, 'yt.g001'::text AS heavy_user, 'bs.g001'::text AS heavy_doctor
FROM clinical.patients p JOIN core.facilities f ON f.id = p.facility_id
WHERE f.code = '19G00' AND p.birth_year <= 1960 AND p.merged_into IS NULL;
-- Visits of the past year: share of people with 1/2/3/5 visits as VISIT_RATE says.
INSERT INTO clinical.visits (id, facility_id, patient_id, ma_lk, kind, state, received_at, discharged_at, reason,
    doctor_id, pulse, systolic, diastolic, temperature, outcome, discharge_type, card_number, card_benefit_level,
    card_valid_from, card_valid_to, card_primary_facility, card_valid_at_reception, route, benefit_percent,
    route_percent, coverage_percent, created_by, updated_by, created_at, updated_at)
SELECT s.id, s.facility_id, s.patient_id,
       f.code || to_char(s.at, 'YYMMDD') || lpad(s.id::text, 8, '0'),
       'outpatient', 'closed', s.at, s.at + interval '25 minutes', 'Khám bệnh', d.id,
       60 + s.h % 40, 100 + s.h % 60, 60 + s.h % 30, 36.5, 2, 1,
       s.card_number, substr(s.card_number, 3, 1)::smallint, s.card_valid_from, s.card_valid_to,
       s.card_primary_facility, s.valid, CASE WHEN s.valid THEN 'correct_route' ELSE 'uninsured' END,
       CASE WHEN s.valid THEN (ARRAY[100, 100, 95, 80, 100])[substr(s.card_number, 3, 1)::int] ELSE 0 END,
       CASE WHEN s.valid THEN 100 ELSE 0 END,
       CASE WHEN s.valid THEN (ARRAY[100, 100, 95, 80, 100])[substr(s.card_number, 3, 1)::int] ELSE 0 END,
       d.id, d.id, s.at, s.at + interval '25 minutes'
FROM (SELECT nextval('clinical.visits_id_seq') AS id, p.id AS patient_id, p.facility_id, t.at, t.h,
             p.card_number, p.card_valid_from, p.card_valid_to, p.card_primary_facility,
             p.card_number IS NOT NULL AND t.at::date BETWEEN p.card_valid_from AND p.card_valid_to AS valid
      FROM clinical.patients p
      CROSS JOIN LATERAL (SELECT (hashint8(p.id) & 2147483647) % 100 AS b) pb
      CROSS JOIN LATERAL generate_series(1, CASE WHEN pb.b >= :visit_rate THEN 0 WHEN pb.b < 30 * :visit_rate / 55 THEN 1
                                                 WHEN pb.b < 45 * :visit_rate / 55 THEN 2
                                                 WHEN pb.b < 52 * :visit_rate / 55 THEN 3 ELSE 5 END) k
      CROSS JOIN LATERAL (SELECT hashint8(p.id * 16 + k) & 2147483647 AS h) hh
      CROSS JOIN LATERAL (SELECT date_trunc('day', now()) - (1 + hh.h % 365) * interval '1 day'
                                 + interval '7 hours' + (hh.h / 365 % 600) * interval '1 minute' AS at,
                                 hh.h) t
      WHERE p.facility_id IN (SELECT id FROM core.facilities WHERE code LIKE '19G%')
        AND p.id <> (SELECT heavy_patient_id FROM bench.loaded)) s
JOIN core.facilities f ON f.id = s.facility_id
JOIN core.users d ON d.facility_id = s.facility_id AND d.role = 'doctor';

INSERT INTO clinical.visits (id, facility_id, patient_id, ma_lk, kind, state, received_at, discharged_at, reason,
    doctor_id, pulse, systolic, diastolic, temperature, weight_kg, notes, outcome, discharge_type, route,
    created_by, updated_by, created_at, updated_at)
SELECT s.id, p.facility_id, p.id, f.code || to_char(s.at, 'YYMMDD') || lpad(s.id::text, 8, '0'),
       'outpatient', 'closed', s.at, s.at + interval '20 minutes', 'Tái khám tăng huyết áp, đái tháo đường', d.id,
       70 + s.k % 20, 130 + s.k % 30, 80 + s.k % 15, 36.6, 58 + (s.k % 7), 'Huyết áp ổn định, tiếp tục điều trị',
       2, 1, 'uninsured', d.id, d.id, s.at, s.at + interval '20 minutes'
FROM bench.loaded b JOIN clinical.patients p ON p.id = b.heavy_patient_id
JOIN core.facilities f ON f.id = p.facility_id
JOIN core.users d ON d.facility_id = p.facility_id AND d.role = 'doctor'
CROSS JOIN LATERAL (SELECT nextval('clinical.visits_id_seq') AS id, k,
                           date_trunc('day', now()) - k * interval '3.5 days' + interval '8 hours' AS at
                    FROM generate_series(1, 700) k) s;

INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary)
SELECT v.id, v.facility_id, 0,
       CASE WHEN v.patient_id = b.heavy_patient_id THEN CASE WHEN v.id % 3 = 0 THEN 'E11.9' ELSE 'I10' END
            ELSE dx.code END, true
FROM clinical.visits v CROSS JOIN bench.loaded b
JOIN dx ON dx.i = (hashint8(v.id) & 2147483647) % :ndx
WHERE v.id > :first_visit;
INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary)
SELECT v.id, v.facility_id, 1, CASE WHEN v.id % 3 = 0 THEN 'I10' ELSE 'E11.9' END, false
FROM clinical.visits v JOIN bench.loaded b ON v.patient_id = b.heavy_patient_id;
ALTER TABLE clinical.visits ENABLE TRIGGER visits_closed_primary;
COMMIT;
VACUUM ANALYZE clinical.visits;
VACUUM ANALYZE clinical.visit_diagnoses;
VACUUM ANALYZE clinical.patients;
CHECKPOINT;
SQL
t1=$(date +%s.%N)
printf 'visits: %.1f s\n' "$(echo "$t1 - $t0" | bc)"
$bench_psql -c "SELECT 'visits ' || count(*) FROM clinical.visits" \
    -c "SELECT 'heavy patient ' || heavy_patient_id || ' (' || heavy_user || '): ' || (SELECT count(*) FROM clinical.visits v WHERE v.patient_id = heavy_patient_id) || ' visits' FROM bench.loaded" \
    -c "SELECT 'database size ' || pg_size_pretty(pg_database_size('postgres'))"
