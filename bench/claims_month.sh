#!/usr/bin/env bash
# Claims for a month of a district hospital: 30,000 closed insured visits
# (each with diagnoses, 2 services with results and a 2-drug prescription,
# copied from the demo visits) generated at 19010 in one month of the bench
# database, then `his claims export` turns them into validated (XSD +
# business checks), signed XML. Prints visits per second and the time for
# the whole month; the goal is under 10 seconds.
# Usage: bench/claims_month.sh [VISITS] [THREADS]   (needs scripts/build.sh run)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_bin=${CLAIMS_BENCH_BIN:-$bench_bin}
visits=${1:-30000}
threads=${2:-$(nproc)}
month=2026-10
sd=()
[ -n "${CLAIMS_BENCH_SCHEMA_DIR:-}" ] && sd=(--schema-dir "$CLAIMS_BENCH_SCHEMA_DIR")
[ -x "$bench_bin" ] || { echo "build first: scripts/build.sh run" >&2; exit 1; }
bench_start_cluster
[ -n "${CLAIMS_BENCH_KEEP:-}" ] || trap bench_stop_cluster EXIT
"$bench_bin" db migrate "${sd[@]}" --database-url "$bench_db" >/dev/null
"$bench_bin" seed demo "${sd[@]}" --database-url "$bench_db" >/dev/null
psql "$bench_db" -v ON_ERROR_STOP=1 -q <<SQL
SET TIME ZONE 'Asia/Ho_Chi_Minh';
BEGIN; -- the closed-visit check is deferred to commit: diagnoses come after the visits
\o /dev/null
SELECT set_config('his.facility_id', (SELECT id::text FROM core.facilities WHERE code = '19010'), false);
CREATE TEMP TABLE tpl AS
  SELECT row_number() OVER (ORDER BY v.id) AS k, v.* FROM clinical.visits v JOIN core.facilities f ON f.id = v.facility_id
   WHERE f.code = '19010' AND v.state = 'closed' AND v.route <> 'uninsured' AND v.department IS NOT NULL;
CREATE TEMP TABLE gen AS
  SELECT g AS n, (SELECT count(*) FROM tpl) AS m,
         timestamp '$month-01 07:00' + ((g - 1) % 30) * interval '1 day' + ((g * 7) % 600) * interval '1 minute' AS t0
    FROM generate_series(1, $visits) g;
CREATE TEMP TABLE made AS
WITH ins AS (
  INSERT INTO clinical.visits (facility_id, patient_id, ma_lk, kind, state, received_at, discharged_at, reason,
      department, doctor_id, pulse, temperature, systolic, diastolic, notes, outcome, discharge_type,
      card_number, card_benefit_level, card_valid_from, card_valid_to, card_primary_facility,
      card_valid_at_reception, route, benefit_percent, route_percent, coverage_percent)
  SELECT t.facility_id, t.patient_id, 'B19010' || lpad(g.n::text, 9, '0'), 'outpatient', 'closed', g.t0,
      g.t0 + interval '95 minutes', t.reason, t.department, t.doctor_id, t.pulse, t.temperature, t.systolic,
      t.diastolic, t.notes, t.outcome, t.discharge_type, t.card_number, t.card_benefit_level,
      least(t.card_valid_from, date '$month-01'), greatest(t.card_valid_to, date '$month-01' + 60),
      t.card_primary_facility, true, t.route, t.benefit_percent, t.route_percent, t.coverage_percent
    FROM gen g JOIN tpl t ON t.k = (g.n - 1) % g.m + 1
  RETURNING id, ma_lk, received_at, patient_id, doctor_id)
SELECT i.*, (substr(i.ma_lk, 7)::int - 1) % (SELECT count(*) FROM tpl) + 1 AS k FROM ins i;
INSERT INTO clinical.visit_diagnoses (visit_id, facility_id, seq, icd10, is_primary)
  SELECT m.id, d.facility_id, d.seq, d.icd10, d.is_primary FROM made m JOIN tpl t ON t.k = m.k
    JOIN clinical.visit_diagnoses d ON d.visit_id = t.id;
INSERT INTO clinical.visit_services (visit_id, facility_id, seq, code, quantity, unit_price, ordered_at, ordered_by,
    performed_at, result_value, result_unit, result_text, reference_range, result_at)
  SELECT m.id, s.facility_id, s.seq, s.code, s.quantity, s.unit_price, m.received_at + interval '10 minutes',
      s.ordered_by, CASE WHEN s.performed_at IS NOT NULL THEN m.received_at + interval '20 minutes' END,
      s.result_value, s.result_unit, s.result_text, s.reference_range,
      CASE WHEN s.result_at IS NOT NULL THEN m.received_at + interval '50 minutes' END
    FROM made m JOIN tpl t ON t.k = m.k JOIN clinical.visit_services s ON s.visit_id = t.id;
WITH rx AS (
  INSERT INTO pharmacy.prescriptions (code, type, issuer_facility_code, visit_id, patient_id, patient_name,
      patient_sex, card_number, doctor_id, issued_at, valid_until, diagnoses)
  SELECT '19010' || lpad(substr(m.ma_lk, 7)::int::text, 7, '0') || '-C', 'C', '19010', m.id, m.patient_id,
      p.full_name, p.sex, p.card_number, m.doctor_id, m.received_at + interval '60 minutes',
      (m.received_at + interval '5 days')::date, '[]'
    FROM made m JOIN clinical.patients p ON p.id = m.patient_id
  RETURNING id)
INSERT INTO pharmacy.prescription_items (prescription_id, seq, drug_code, drug_name, quantity, unit, dosage, days)
  SELECT rx.id, s.seq, d.code, d.name, 10 + s.seq * 5, d.unit, 'Uống ' || (s.seq + 1) || ' lần/ngày', 5
    FROM rx CROSS JOIN generate_series(0, 1) s(seq)
    JOIN LATERAL (SELECT code, name, unit FROM catalog.drugs WHERE rx_class = 'other' AND insurance_price > 0
                  ORDER BY code OFFSET ((rx.id + s.seq) % 20) LIMIT 1) d ON true;
COMMIT;
ANALYZE;
SQL
n=$(psql "$bench_db" -Atc "SELECT count(*) FROM clinical.visits WHERE to_char(discharged_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM') = '$month' AND facility_id = (SELECT id FROM core.facilities WHERE code = '19010') AND state = 'closed' AND route <> 'uninsured'")
echo "bench: $n closed insured visits at 19010 in $month"
out=$(mktemp /tmp/claims-month.XXXXXX.xml)
# Warm the signing key (first use makes it) so the timing is the month's work.
"$bench_bin" claims export "${sd[@]}" --month 2026-01 --facility 19010 --out "$out" --database-url "$bench_db" >/dev/null 2>&1 || true
start=$(date +%s.%N)
"$bench_bin" claims export "${sd[@]}" --month "$month" --facility 19010 --out "$out" --threads "$threads" \
    --database-url "$bench_db" 2>/tmp/claims-month.invalid.txt
end=$(date +%s.%N)
size=$(stat -c %s "$out")
awk -v n="$n" -v s="$start" -v e="$end" -v b="$size" -v t="$threads" 'BEGIN {
    d = e - s; printf "claims month: %d visits -> validated, signed GIAMDINHHS (%.1f MB) in %.2f s = %.0f visits/s (%d threads); goal < 10 s: %s\n",
    n, b / 1048576, d, n / d, t, d < 10 ? "met" : "NOT met" }'
echo "invalid visits listed in /tmp/claims-month.invalid.txt: $(grep -c '^invalid' /tmp/claims-month.invalid.txt || true) lines"
rm -f "$out"
