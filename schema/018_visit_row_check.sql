-- The 29 CHECK constraints of clinical.visits become one BEFORE INSERT OR
-- UPDATE row trigger with the same rules.
--
-- Why: PostgreSQL rebuilds a table's CHECK constraints for every execution
-- of an INSERT or UPDATE (each constraint's stored expression is read back
-- from text, planned and compiled when the executor starts), so on the
-- visit-write path the 29 constraints cost more than the rest of the INSERT:
-- pgbench, one client, the INSERT of POST /api/v1/visits: ~290 us with the
-- constraints, ~170 us without, ~190 us with this trigger (docs/
-- benchmarks.md). A PL/pgSQL function is compiled once per backend and its
-- expressions keep their plans.
--
-- What stays the same: every rule (a value outside it is refused with
-- SQLSTATE 23514 naming the old constraint, as before); NULL passes a rule
-- as it passed a CHECK. What differs: rows applied by logical replication at
-- the province (session_replication_role = replica) are not re-checked
-- there; they were checked by the district's trigger when written.

CREATE FUNCTION clinical.visit_row_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rules CONSTANT text[] := ARRAY[
        'visits_department_check', 'visits_ma_lk_check', 'visits_kind_check', 'visits_state_check',
        'visits_reason_check', 'visits_pulse_check', 'visits_temperature_check', 'visits_systolic_check',
        'visits_diastolic_check', 'visits_respiration_check', 'visits_weight_kg_check', 'visits_height_cm_check',
        'visits_notes_check', 'visits_outcome_check', 'visits_discharge_type_check', 'visits_referral_from_check',
        'visits_referral_paper_check', 'visits_referral_to_check', 'visits_referral_reason_check',
        'visits_card_number_check', 'visits_card_benefit_level_check', 'visits_check3', 'visits_route_check',
        'visits_benefit_percent_check', 'visits_route_percent_check', 'visits_coverage_percent_check',
        'visits_check', 'visits_check1', 'visits_check2'];
    ok boolean[];
BEGIN
    -- The common case in one expression: a rule that is false makes the
    -- whole false; NULLs (unset columns) pass, as with CHECK.
    IF (length(NEW.department) <= 50 AND NEW.ma_lk ~ '^[0-9A-Z]{1,50}$'
        AND NEW.kind IN ('outpatient', 'inpatient', 'emergency') AND NEW.state IN ('open', 'closed')
        AND length(NEW.reason) <= 500 AND NEW.pulse BETWEEN 20 AND 250 AND NEW.temperature BETWEEN 30 AND 45
        AND NEW.systolic BETWEEN 40 AND 300 AND NEW.diastolic BETWEEN 20 AND 200 AND NEW.respiration BETWEEN 4 AND 80
        AND NEW.weight_kg BETWEEN 0.3 AND 400 AND NEW.height_cm BETWEEN 20 AND 260 AND length(NEW.notes) <= 20000
        AND NEW.outcome BETWEEN 1 AND 8 AND NEW.discharge_type BETWEEN 1 AND 5
        AND NEW.referral_from ~ '^[0-9]{2}[0-9A-Z]{3}$' AND length(NEW.referral_paper) <= 50
        AND NEW.referral_to ~ '^[0-9]{2}[0-9A-Z]{3}$' AND length(NEW.referral_reason) <= 1000
        AND NEW.card_number ~ '^[A-Z]{2}[1-5][0-9]{12}$' AND NEW.card_benefit_level BETWEEN 1 AND 5
        AND (NEW.referral_to IS NULL OR NEW.referral_reason IS NOT NULL)
        AND NEW.route IN ('correct_route', 'referral', 'emergency', 'free_route', 'wrong_route', 'uninsured')
        AND NEW.benefit_percent BETWEEN 0 AND 100 AND NEW.route_percent BETWEEN 0 AND 100
        AND NEW.coverage_percent BETWEEN 0 AND 100
        AND (NEW.discharged_at IS NULL OR NEW.discharged_at >= NEW.received_at)
        AND (NEW.admitted_at IS NULL OR NEW.admitted_at >= NEW.received_at)
        AND (NEW.state = 'open' OR NEW.discharged_at IS NOT NULL)) IS NOT FALSE THEN
        RETURN NEW;
    END IF;
    -- A refusal (rare): find the rule, in the order above, to name it.
    ok := ARRAY[
        length(NEW.department) <= 50, NEW.ma_lk ~ '^[0-9A-Z]{1,50}$',
        NEW.kind IN ('outpatient', 'inpatient', 'emergency'), NEW.state IN ('open', 'closed'),
        length(NEW.reason) <= 500, NEW.pulse BETWEEN 20 AND 250, NEW.temperature BETWEEN 30 AND 45,
        NEW.systolic BETWEEN 40 AND 300, NEW.diastolic BETWEEN 20 AND 200, NEW.respiration BETWEEN 4 AND 80,
        NEW.weight_kg BETWEEN 0.3 AND 400, NEW.height_cm BETWEEN 20 AND 260, length(NEW.notes) <= 20000,
        NEW.outcome BETWEEN 1 AND 8, NEW.discharge_type BETWEEN 1 AND 5,
        NEW.referral_from ~ '^[0-9]{2}[0-9A-Z]{3}$', length(NEW.referral_paper) <= 50,
        NEW.referral_to ~ '^[0-9]{2}[0-9A-Z]{3}$', length(NEW.referral_reason) <= 1000,
        NEW.card_number ~ '^[A-Z]{2}[1-5][0-9]{12}$', NEW.card_benefit_level BETWEEN 1 AND 5,
        NEW.referral_to IS NULL OR NEW.referral_reason IS NOT NULL,
        NEW.route IN ('correct_route', 'referral', 'emergency', 'free_route', 'wrong_route', 'uninsured'),
        NEW.benefit_percent BETWEEN 0 AND 100, NEW.route_percent BETWEEN 0 AND 100,
        NEW.coverage_percent BETWEEN 0 AND 100,
        NEW.discharged_at IS NULL OR NEW.discharged_at >= NEW.received_at,
        NEW.admitted_at IS NULL OR NEW.admitted_at >= NEW.received_at,
        NEW.state = 'open' OR NEW.discharged_at IS NOT NULL];
    FOR i IN 1 .. array_length(rules, 1) LOOP
        IF ok[i] IS FALSE THEN
            RAISE EXCEPTION 'new row for relation "visits" violates check constraint "%"', rules[i]
                USING ERRCODE = 'check_violation', CONSTRAINT = rules[i], TABLE = 'visits', SCHEMA = 'clinical';
        END IF;
    END LOOP;
    RETURN NEW;
END $$;

CREATE TRIGGER visits_row_check BEFORE INSERT OR UPDATE ON clinical.visits
    FOR EACH ROW EXECUTE FUNCTION clinical.visit_row_check();

DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'clinical.visits'::regclass AND contype = 'c' LOOP
        EXECUTE format('ALTER TABLE clinical.visits DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
