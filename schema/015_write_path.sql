-- The visit write path (issue 4's benchmark: visits recorded per second).
-- Measured before this migration (docs/benchmarks.md): ~1.9 ms of CPU per
-- POST /api/v1/visits, of which ~0.8 ms in the dashboard's statement
-- trigger on clinical.visits, and every visit of a facility queued behind
-- the one before on the lock of that facility's row of today in
-- dash.visits_daily (held to commit, fsync included). Four changes:
--
-- 1. A local visit adds one row to dash.visits_daily_delta (append only:
--    no index, no lock on a shared row) instead of updating the rollup.
--    dash.fold() moves the deltas into dash.visits_daily (his serve runs it
--    every few seconds), and the charts read dash.visits_daily_now, the
--    rollup plus the deltas not yet folded: they stay exact to the last
--    commit. Updates, deletes and replicated rows keep the paths of
--    schema/010_dashboard.sql (the province's apply worker still upserts).
-- 2. Row triggers that have nothing to do for most rows get a WHEN clause,
--    so the server does not start PL/pgSQL to find that out: the dashboard's
--    replica-only row triggers, the closed-visit check (only closed visits)
--    and the HL7 ADT trigger on visits (admission, discharge).
-- 3. The audit chain head is advanced by one UPDATE that also computes the
--    row's hash (it was an UPDATE, then a second one for the hash), and the
--    shard is the writing connection's pool slot (his.audit_shard, set once
--    per connection by the server) so a server's concurrent requests never
--    wait for each other's chain head. Without the setting (psql, other
--    tools) the shard stays pg_backend_pid() % 8. Rows, hashes and
--    `his audit verify` are unchanged: only how the head is locked.
-- 4. clinical.visit_core_json(visit row, facility code): the visit's own
--    fields as the API shows them, shared by clinical.visit_json and the
--    INSERT ... RETURNING of a new visit (which has no diagnoses, services
--    or versions yet), so POST /visits answers without reading the visit
--    back. One definition of the shape.

-- ---------------------------------------------------------------------------
-- 1. Visit deltas

CREATE TABLE dash.visits_daily_delta (
    facility_id bigint NOT NULL,
    day         date NOT NULL,
    visits      int NOT NULL
);
ALTER TABLE dash.visits_daily_delta ENABLE ROW LEVEL SECURITY;
CREATE POLICY visits_daily_delta_province ON dash.visits_daily_delta FOR SELECT TO his_app USING (
    current_setting('his.role', true) IN ('health_department', 'admin')
    AND dash.fprov(facility_id) = (SELECT dash.my_province()));
GRANT SELECT ON dash.visits_daily_delta TO his_app;

-- What the charts read: folded rows and the deltas since (row-level
-- security of both tables applies to the reader).
CREATE VIEW dash.visits_daily_now WITH (security_invoker = true) AS
    SELECT facility_id, day, visits FROM dash.visits_daily
    UNION ALL
    SELECT facility_id, day, visits FROM dash.visits_daily_delta;
GRANT SELECT ON dash.visits_daily_now TO his_app;

-- A local visit: its day's delta; a referral or diagnoses present already
-- (a bulk load that writes both in one statement) take the full path.
CREATE FUNCTION dash.t_visits_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO dash.visits_daily_delta (facility_id, day, visits)
    VALUES (NEW.facility_id, dash.vn_day(NEW.received_at), 1);
    IF NEW.referral_to IS NOT NULL THEN
        INSERT INTO dash.referrals_daily AS t (facility_id, to_facility, day, province_code, referrals)
        VALUES (NEW.facility_id, NEW.referral_to, dash.vn_day(coalesce(NEW.discharged_at, NEW.received_at)),
                dash.fprov(NEW.facility_id), 1)
        ON CONFLICT (facility_id, to_facility, day) DO UPDATE SET referrals = t.referrals + 1;
    END IF;
    IF EXISTS (SELECT 1 FROM clinical.visit_diagnoses d WHERE d.visit_id = NEW.id) THEN
        PERFORM dash.c_visit_diags(NULL, ARRAY[dash.k(NEW)]);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER dash_clinical_visits_ins ON clinical.visits;
-- Local sessions only (ENABLE ORIGIN, the default): replicated rows are
-- counted by dash_clinical_visits_row.
CREATE TRIGGER dash_clinical_visits_ins AFTER INSERT ON clinical.visits
    FOR EACH ROW EXECUTE FUNCTION dash.t_visits_insert();

-- Folds the deltas into the rollup. One folder at a time; a delta row is
-- counted by exactly one fold (DELETE ... RETURNING). Returns the rollup
-- rows written.
CREATE FUNCTION dash.fold() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('dash.fold', 0));
    WITH d AS (DELETE FROM dash.visits_daily_delta RETURNING facility_id, day, visits),
         g AS (SELECT d.facility_id AS f, d.day AS dd, sum(d.visits)::int AS c FROM d GROUP BY 1, 2)
    INSERT INTO dash.visits_daily AS t (facility_id, day, province_code, visits)
    SELECT g.f, g.dd, dash.fprov(g.f), g.c FROM g WHERE g.c <> 0 ORDER BY 1, 2
    ON CONFLICT (facility_id, day) DO UPDATE SET visits = t.visits + EXCLUDED.visits;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION dash.fold() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dash.fold() TO his_app;

-- dash.rebuild() recomputes everything: pending deltas go too.
DO $$
DECLARE
    body text;
BEGIN
    SELECT prosrc INTO body FROM pg_proc WHERE oid = 'dash.rebuild(int)'::regprocedure;
    IF position('TRUNCATE dash.visits_daily,' IN body) = 0 THEN
        RAISE EXCEPTION 'dash.rebuild() is not the one this migration expects';
    END IF;
    body := replace(body, 'TRUNCATE dash.visits_daily,', 'TRUNCATE dash.visits_daily, dash.visits_daily_delta,');
    EXECUTE format('CREATE OR REPLACE FUNCTION dash.rebuild(slice int DEFAULT 200000) RETURNS void '
                   'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS %L', body);
END
$$;

-- ---------------------------------------------------------------------------
-- 2. WHEN clauses

-- The dashboard's row triggers act only for replicated rows (their
-- functions return at once otherwise); BEFORE DELETE ones act always and
-- are left alone.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tg.tgname, tg.tgrelid::regclass AS tbl, p.proname,
                    pg_get_triggerdef(tg.oid) AS def
             FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid
             WHERE tg.tgname LIKE 'dash\_%\_row' AND NOT tg.tgisinternal LOOP
        IF t.def NOT LIKE '%AFTER%FOR EACH ROW EXECUTE FUNCTION%' OR t.def LIKE '%WHEN%' THEN
            RAISE EXCEPTION 'unexpected trigger %: %', t.tgname, t.def;
        END IF;
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.tbl);
        EXECUTE replace(t.def, 'FOR EACH ROW EXECUTE',
                        'FOR EACH ROW WHEN (current_setting(''session_replication_role'') = ''replica'') EXECUTE');
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', t.tbl, t.tgname);
    END LOOP;
END
$$;

-- Only a closed visit has anything to check.
DROP TRIGGER visits_closed_primary ON clinical.visits;
CREATE CONSTRAINT TRIGGER visits_closed_primary AFTER INSERT OR UPDATE ON clinical.visits
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.state = 'closed')
    EXECUTE FUNCTION clinical.visit_check_closed();

-- A visit's ADT events: admission (A01, an inpatient visit created) and
-- discharge (A03); hl7.adt_event() decides the rest as before.
DROP TRIGGER visits_hl7_adt ON clinical.visits;
CREATE TRIGGER visits_hl7_adt_insert AFTER INSERT ON clinical.visits
    FOR EACH ROW WHEN (NEW.kind = 'inpatient') EXECUTE FUNCTION hl7.adt_event();
CREATE TRIGGER visits_hl7_adt_update AFTER UPDATE ON clinical.visits
    FOR EACH ROW WHEN (OLD.discharged_at IS NULL AND NEW.discharged_at IS NOT NULL)
    EXECUTE FUNCTION hl7.adt_event();

-- ---------------------------------------------------------------------------
-- 3. The audit chain head in one UPDATE

ALTER TABLE audit.chain ADD COLUMN prev_hash bytea;

CREATE OR REPLACE FUNCTION audit.chain_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audit AS $$
DECLARE
    s bigint;
    p bytea;
    h bytea;
    tries int := 0;
BEGIN
    NEW.shard := coalesce(nullif(current_setting('his.audit_shard', true), '')::smallint,
                          (pg_backend_pid() % 8)::smallint);
    IF NEW.shard < 0 OR NEW.shard > 255 THEN
        RAISE EXCEPTION 'his.audit_shard must be 0 to 255';
    END IF;
    NEW.at := date_trunc('microseconds', NEW.at);
    LOOP
        -- The row lock on the chain head orders writers of one chain and is
        -- held to commit: no gaps, no forks.
        UPDATE audit.chain c SET seq = c.seq + 1, prev_hash = c.last_hash,
               last_hash = sha256(c.last_hash || audit.canon((c.seq + 1)::text, NEW.facility_id::text,
                   to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), NEW.user_id::text,
                   NEW.username, NEW.role, NEW.action, NEW.entity, NEW.entity_id, NEW.patient_id::text,
                   NEW.outcome, NEW.request_id, NEW.detail))
         WHERE c.facility_id = NEW.facility_id AND c.shard = NEW.shard
        RETURNING c.seq, c.prev_hash, c.last_hash INTO s, p, h;
        EXIT WHEN FOUND;
        tries := tries + 1;
        IF tries > 2 THEN
            RAISE EXCEPTION 'audit chain head of facility % shard % cannot be created', NEW.facility_id, NEW.shard;
        END IF;
        -- A new chain: its head before the first row (sequence 0, zero hash).
        INSERT INTO audit.chain (facility_id, shard, seq, last_hash)
        VALUES (NEW.facility_id, NEW.shard, 0,
                '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
        ON CONFLICT (facility_id, shard) DO NOTHING;
    END LOOP;
    NEW.chain_seq := s;
    NEW.prev_hash := p;
    NEW.hash := h;
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------
-- 4. One shape of a visit

CREATE FUNCTION clinical.visit_core_json(v clinical.visits, facility_code text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', v.id, 'ma_lk', v.ma_lk, 'patient_id', v.patient_id, 'facility_code', facility_code,
        'kind', v.kind, 'state', v.state,
        'received_at', v.received_at, 'admitted_at', v.admitted_at, 'discharged_at', v.discharged_at,
        'reason', v.reason, 'department', v.department, 'doctor_id', v.doctor_id,
        'vitals', jsonb_build_object('pulse', v.pulse, 'temperature', v.temperature, 'systolic', v.systolic,
                                     'diastolic', v.diastolic, 'respiration', v.respiration,
                                     'weight_kg', v.weight_kg, 'height_cm', v.height_cm),
        'notes', v.notes,
        'diagnoses', '[]'::jsonb,
        'services', '[]'::jsonb,
        'outcome', v.outcome, 'discharge_type', v.discharge_type,
        'referral_from', v.referral_from, 'referral_paper', v.referral_paper,
        'referral', CASE WHEN v.referral_to IS NULL THEN NULL
                         ELSE jsonb_build_object('to', v.referral_to, 'reason', v.referral_reason) END,
        'coverage', jsonb_build_object(
            'card_number', v.card_number, 'benefit_level', v.card_benefit_level,
            'valid_from', v.card_valid_from, 'valid_to', v.card_valid_to,
            'primary_facility', v.card_primary_facility, 'card_valid', v.card_valid_at_reception,
            'route', v.route, 'benefit_percent', v.benefit_percent, 'route_percent', v.route_percent,
            'coverage_percent', v.coverage_percent),
        'version', v.version, 'revision', v.revision,
        'created_at', v.created_at, 'updated_at', v.updated_at)
$$;

CREATE OR REPLACE FUNCTION clinical.visit_json(vid bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT clinical.visit_core_json(v, f.code) || jsonb_build_object(
            'diagnoses', coalesce((SELECT jsonb_agg(jsonb_build_object('icd10', d.icd10, 'primary', d.is_primary,
                                                                       'name', i.name_vi, 'name_en', i.name_en,
                                                                       'note', d.note) ORDER BY d.seq)
                                   FROM clinical.visit_diagnoses d JOIN catalog.icd10 i ON i.code = d.icd10
                                   WHERE d.visit_id = v.id), '[]'::jsonb),
            'services', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                      'code', s.code, 'name', c.name, 'unit', c.unit, 'quantity', s.quantity,
                                      'unit_price', s.unit_price, 'ordered_at', s.ordered_at,
                                      'performed_at', s.performed_at,
                                      'result', CASE WHEN s.result_at IS NULL AND s.result_value IS NULL
                                                          AND s.result_text IS NULL THEN NULL
                                                     ELSE jsonb_build_object('value', s.result_value,
                                                          'unit', s.result_unit, 'text', s.result_text,
                                                          'reference_range', s.reference_range, 'at', s.result_at)
                                                END) ORDER BY s.seq)
                                  FROM clinical.visit_services s JOIN catalog.services c ON c.code = s.code
                                  WHERE s.visit_id = v.id), '[]'::jsonb))
        FROM clinical.visits v JOIN core.facilities f ON f.id = v.facility_id
        WHERE v.id = vid);
END
$$;
