#!/usr/bin/env bash
# The database's own ceiling for issue 4's visit writes: pgbench replays, per
# transaction, the statements `his serve` sends for one POST /api/v1/visits
# (same SQL, prepared, same role and row-level security, same triggers, and
# the same three round trips: BEGIN, scope, idempotency lock and look-up and
# the patient read in one pipeline; the visit INSERT ... RETURNING the reply;
# the audit row, the idempotency row and COMMIT in one pipeline), with no HTTP
# and no his process. Run on the generated province of bench/province_load.sh
# (bench/province_lib.sh), fsync on. Compare with bench/visit_writes.sh: the
# difference is what HTTP, JSON and the server cost; this figure bounds what
# any server could reach with this schema on this machine.
# Usage: bench/visit_sql_ceiling.sh [seconds] [clients...]   (default 10 s; 16 64)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; shift || true
clients=("$@"); [ ${#clients[@]} -gt 0 ] || clients=(16 64)
. bench/province_lib.sh
province_ready || { echo "no province loaded: run bench/province_load.sh" >&2; exit 1; }
trap province_cluster_stop EXIT
work=$province_dir/ceiling; rm -rf "$work"; mkdir -p "$work"; chmod 755 "$work"

# The same 16 stations' doctors and 500 patients each as bench/visit_writes.sh.
$bench_psql <<'SQL'
DROP TABLE IF EXISTS bench.visit_pairs;
CREATE TABLE bench.visit_pairs AS
SELECT row_number() OVER (ORDER BY hashint8(p.id))::int AS i, u.id AS user_id, u.username, f.id AS facility_id,
       f.code AS facility_code, p.id AS patient_id
FROM (SELECT id, facility_id FROM core.users WHERE username ~ '^bs\.g[0-9]+$' ORDER BY username LIMIT 16) d
JOIN core.users u ON u.id = d.id JOIN core.facilities f ON f.id = d.facility_id
CROSS JOIN LATERAL (SELECT id FROM clinical.patients p WHERE p.facility_id = d.facility_id AND p.merged_into IS NULL
                    ORDER BY hashint8(p.id) LIMIT 500) p;
ALTER TABLE bench.visit_pairs ADD PRIMARY KEY (i);
GRANT USAGE ON SCHEMA bench TO his_app;
GRANT SELECT ON bench.visit_pairs TO his_app;
SQL
n=$($bench_psql -c "SELECT count(*) FROM bench.visit_pairs")

cat > "$work/post.sql" <<SQL
\set i random(1, $n)
\set k random(1, 1000000000)
SELECT user_id AS uid, username AS uname, facility_id AS fid, facility_code AS fcode, patient_id AS pid FROM bench.visit_pairs WHERE i = :i \gset
\startpipeline
BEGIN;
SET LOCAL ROLE his_app;
SELECT set_config('his.user_id', :uid::text, true), set_config('his.facility_id', :fid::text, true), set_config('his.role', 'doctor', true);
SELECT pg_advisory_xact_lock(hashtextextended(:uid::text || ':' || :k::text, 0));
SELECT request_hash, status, response FROM core.idempotency WHERE user_id = :uid AND key = :k::text;
SELECT card_number, to_char(card_valid_from, 'YYYY-MM-DD'), to_char(card_valid_to, 'YYYY-MM-DD'), card_primary_facility, merged_into, to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD') FROM clinical.patients WHERE id = :pid;
\endpipeline
WITH nid AS (SELECT nextval('clinical.visits_id_seq') AS id) INSERT INTO clinical.visits AS v (id, ma_lk, patient_id, kind, reason, department, doctor_id, admitted_at, referral_from, referral_paper, card_number, card_benefit_level, card_valid_from, card_valid_to, card_primary_facility, card_valid_at_reception, route, benefit_percent, route_percent, coverage_percent, created_by, updated_by) SELECT nid.id, :fcode::text || to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYMMDD') || repeat('0', greatest(0, 8 - length(nid.id::text))) || nid.id::text, :pid, 'outpatient', NULL, NULL, :uid, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, 'uninsured', 0, 0, 0.00, :uid, :uid FROM nid RETURNING (clinical.visit_core_json(v, :fcode::text) || '{"versions": []}'::jsonb)::text, v.id, v.version;
\startpipeline
INSERT INTO audit.events (facility_id, user_id, username, role, action, entity, entity_id, patient_id, outcome, request_id, detail) VALUES (:fid, :uid, :uname::text, 'doctor', 'create', 'visit', '0', :pid, 'ok', 'pgbench', 'uninsured');
INSERT INTO core.idempotency (user_id, key, request_hash, status, response) VALUES (:uid, :k::text || '-' || :client_id::text || '-' || random()::text, 'x', 201, repeat('x', 1400));
COMMIT;
\endpipeline
SQL
echo "pgbench -M prepared -n -j 2 -T $secs -f post.sql: the statements of one POST /api/v1/visits per transaction"
for c in "${clients[@]}"; do
    echo "== $c clients"
    pgbench -h "$province_dir/run" -U postgres -M prepared -n -c "$c" -j 2 -T "$secs" -r -f "$work/post.sql" postgres 2>&1 |
        grep -E '^tps|latency average|latency stddev|actually processed' || true
done
$bench_psql -c "DROP TABLE bench.visit_pairs"
