-- Visits, diagnoses, services and results, closed-visit versions, personal
-- health records (issue 4 points 2 and 3) and the catalogues they point at
-- (ICD-10, technical services and supplies).
--
-- The ICD-10 and service catalogues start empty here: `his seed demo` loads
-- the hand-made demo list schema/data/icd10_demo.csv and a short service list
-- (his/seed_visits.c); production loads the ministry's file with
-- `his catalog load icd10 FILE` (his/cmd_catalog.c). See docs/clinical-visits.md.

-- ---------------------------------------------------------------------------
-- Catalogues: no patient data, readable by everyone, written only by the
-- owner (loader and seed).

-- Codes are stored without the dagger/asterisk mark (that is kept apart):
-- MA_BENH_CHINH / MA_BENH_KT carry the bare code.
CREATE TABLE catalog.icd10 (
    code            text PRIMARY KEY CHECK (code ~ '^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$'),
    code_nodot      text NOT NULL CHECK (code_nodot ~ '^[A-Z][0-9]{2}[0-9A-Z]{0,2}$'),
    category3       text NOT NULL CHECK (category3 ~ '^[A-Z][0-9]{2}$'),
    dagger_asterisk text CHECK (dagger_asterisk IN ('†', '*')),
    chapter         text CHECK (length(chapter) <= 10),
    chapter_range   text CHECK (length(chapter_range) <= 20),
    name_vi         text NOT NULL CHECK (length(name_vi) BETWEEN 1 AND 500),
    name_en         text CHECK (length(name_en) <= 500),
    -- text_fold(name_vi) || ' | ' || text_fold(name_en), computed in C
    -- (core/text.h) so the search folds the query the same way.
    name_fold       text NOT NULL CHECK (length(name_fold) <= 1100),
    -- valid: may be chosen for new diagnoses (a later load that drops a
    -- code marks it invalid: old visits still point at it).
    valid           boolean NOT NULL DEFAULT true,
    -- main_allowed: may be the primary diagnosis (MA_BENH_CHINH); asterisk
    -- codes and the TT 06/2026 "not allowed as main" codes may not.
    main_allowed    boolean NOT NULL DEFAULT true,
    source          text NOT NULL DEFAULT 'demo' CHECK (length(source) <= 100),
    loaded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX icd10_nodot ON catalog.icd10 (code_nodot text_pattern_ops);
CREATE INDEX icd10_name_trgm ON catalog.icd10 USING gin (name_fold gin_trgm_ops);
GRANT SELECT ON catalog.icd10 TO PUBLIC;

-- Technical services (DVKT) and medical supplies (VTYT) a facility bills
-- (XML3). A small demo list; prices in VND to 3 decimals as in the claims.
CREATE TABLE catalog.services (
    code            text PRIMARY KEY CHECK (code ~ '^[0-9A-Z._-]{1,50}$'),
    kind            text NOT NULL DEFAULT 'service' CHECK (kind IN ('service', 'supply')),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 1024),
    name_fold       text NOT NULL,
    unit            text NOT NULL CHECK (length(unit) BETWEEN 1 AND 50),
    price           numeric(15,3) NOT NULL CHECK (price >= 0),
    group_code      smallint CHECK (group_code BETWEEN 1 AND 99),  -- MA_NHOM
    result_unit     text CHECK (length(result_unit) <= 50),        -- for lab tests
    reference_range text CHECK (length(reference_range) <= 100),
    valid           boolean NOT NULL DEFAULT true
);
GRANT SELECT ON catalog.services TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Visits (one per encounter; MA_LK is the key of every claim table).

CREATE TABLE clinical.visits (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    patient_id      bigint NOT NULL REFERENCES clinical.patients (id),
    -- facility code + yyMMdd of reception + the id on 8 digits: unique
    -- because the id is, never reused, and readable at a glance.
    ma_lk           text NOT NULL UNIQUE CHECK (ma_lk ~ '^[0-9A-Z]{1,50}$'),
    kind            text NOT NULL CHECK (kind IN ('outpatient', 'inpatient', 'emergency')),
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    received_at     timestamptz NOT NULL DEFAULT now(),                -- NGAY_VAO
    admitted_at     timestamptz,                                       -- NGAY_VAO_NOI_TRU
    discharged_at   timestamptz,                                       -- NGAY_RA
    reason          text CHECK (length(reason) <= 500),                -- LY_DO_VV
    department      text CHECK (length(department) <= 50),             -- MA_KHOA
    doctor_id       bigint REFERENCES core.users (id),
    -- vitals: ranges wide enough for every living patient, narrow enough to
    -- catch a slipped digit (the API checks the same ranges, naming the field)
    pulse           smallint CHECK (pulse BETWEEN 20 AND 250),
    temperature     numeric(3,1) CHECK (temperature BETWEEN 30 AND 45),
    systolic        smallint CHECK (systolic BETWEEN 40 AND 300),
    diastolic       smallint CHECK (diastolic BETWEEN 20 AND 200),
    respiration     smallint CHECK (respiration BETWEEN 4 AND 80),
    weight_kg       numeric(5,2) CHECK (weight_kg BETWEEN 0.3 AND 400),   -- CAN_NANG
    height_cm       numeric(4,1) CHECK (height_cm BETWEEN 20 AND 260),
    notes           text CHECK (length(notes) <= 20000),
    outcome         smallint CHECK (outcome BETWEEN 1 AND 8),          -- KET_QUA_DTRI
    discharge_type  smallint CHECK (discharge_type BETWEEN 1 AND 5),   -- MA_LOAI_RV
    referral_from   char(5) CHECK (referral_from ~ '^[0-9]{2}[0-9A-Z]{3}$'),  -- MA_NOI_DI
    referral_paper  text CHECK (length(referral_paper) <= 50),         -- GIAY_CHUYEN_TUYEN
    referral_to     char(5) CHECK (referral_to ~ '^[0-9]{2}[0-9A-Z]{3}$'),    -- MA_NOI_DEN
    referral_reason text CHECK (length(referral_reason) <= 1000),
    -- Insurance coverage snapshotted at reception: later card changes do not
    -- touch a visit (the claim is for the card shown that day).
    card_number     char(15) CHECK (card_number ~ '^[A-Z]{2}[1-5][0-9]{12}$'),
    card_benefit_level smallint CHECK (card_benefit_level BETWEEN 1 AND 5),
    card_valid_from date,
    card_valid_to   date,
    card_primary_facility char(5),                                     -- MA_DKBD
    card_valid_at_reception boolean NOT NULL DEFAULT false,
    route           text NOT NULL DEFAULT 'uninsured'
                    CHECK (route IN ('correct_route', 'referral', 'emergency', 'free_route', 'wrong_route',
                                     'uninsured')),
    benefit_percent numeric(5,2) NOT NULL DEFAULT 0 CHECK (benefit_percent BETWEEN 0 AND 100),
    route_percent   numeric(5,2) NOT NULL DEFAULT 0 CHECK (route_percent BETWEEN 0 AND 100),
    coverage_percent numeric(5,2) NOT NULL DEFAULT 0 CHECK (coverage_percent BETWEEN 0 AND 100),
    -- version: the row version for If-Match; revision: the clinical record's
    -- amendment number (1 until a closed visit is first amended).
    version         int NOT NULL DEFAULT 1,
    revision        int NOT NULL DEFAULT 1,
    created_by      bigint REFERENCES core.users (id),
    updated_by      bigint REFERENCES core.users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (discharged_at IS NULL OR discharged_at >= received_at),
    CHECK (admitted_at IS NULL OR admitted_at >= received_at),
    CHECK (state = 'open' OR discharged_at IS NOT NULL),
    CHECK (referral_to IS NULL OR referral_reason IS NOT NULL)
);
-- A patient's history, newest first, in pages: an index range scan whatever
-- the number of visits.
CREATE INDEX visits_patient_received ON clinical.visits (patient_id, received_at DESC, id DESC);
CREATE INDEX visits_facility_received ON clinical.visits (facility_id, received_at);
CREATE INDEX visits_open ON clinical.visits (facility_id, received_at) WHERE state = 'open';

ALTER TABLE clinical.visits ENABLE ROW LEVEL SECURITY;
CREATE POLICY visits_scope ON clinical.visits TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON clinical.visits TO his_app;
GRANT USAGE ON SEQUENCE clinical.visits_id_seq TO his_app;

CREATE TABLE clinical.visit_diagnoses (
    visit_id        bigint NOT NULL REFERENCES clinical.visits (id) ON DELETE CASCADE,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    seq             smallint NOT NULL CHECK (seq BETWEEN 0 AND 99),
    icd10           text NOT NULL REFERENCES catalog.icd10 (code),
    is_primary      boolean NOT NULL DEFAULT false,
    note            text CHECK (length(note) <= 500),
    PRIMARY KEY (visit_id, seq),
    UNIQUE (visit_id, icd10)
);
-- At most one primary at any time; exactly one once closed (trigger below).
CREATE UNIQUE INDEX visit_diagnoses_one_primary ON clinical.visit_diagnoses (visit_id) WHERE is_primary;
CREATE INDEX visit_diagnoses_icd10 ON clinical.visit_diagnoses (icd10);
ALTER TABLE clinical.visit_diagnoses ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_diagnoses_scope ON clinical.visit_diagnoses TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE, DELETE ON clinical.visit_diagnoses TO his_app;

CREATE TABLE clinical.visit_services (
    id              bigserial PRIMARY KEY,
    visit_id        bigint NOT NULL REFERENCES clinical.visits (id) ON DELETE CASCADE,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    seq             smallint NOT NULL CHECK (seq BETWEEN 0 AND 999),
    code            text NOT NULL REFERENCES catalog.services (code),
    quantity        numeric(10,3) NOT NULL CHECK (quantity > 0 AND quantity <= 10000),
    unit_price      numeric(15,3) NOT NULL CHECK (unit_price >= 0),   -- the price on the day ordered
    ordered_at      timestamptz NOT NULL DEFAULT now(),               -- NGAY_YL
    ordered_by      bigint REFERENCES core.users (id),
    performed_at    timestamptz,                                      -- NGAY_TH_YL
    result_value    text CHECK (length(result_value) <= 50),          -- XML4 GIA_TRI
    result_unit     text CHECK (length(result_unit) <= 50),
    result_text     text CHECK (length(result_text) <= 4000),         -- XML4 MO_TA / KET_LUAN
    reference_range text CHECK (length(reference_range) <= 100),
    result_at       timestamptz,                                      -- NGAY_KQ
    UNIQUE (visit_id, code),
    CHECK (performed_at IS NULL OR performed_at >= ordered_at)
);
CREATE INDEX visit_services_visit ON clinical.visit_services (visit_id, seq);
ALTER TABLE clinical.visit_services ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_services_scope ON clinical.visit_services TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE, DELETE ON clinical.visit_services TO his_app;
GRANT USAGE ON SEQUENCE clinical.visit_services_id_seq TO his_app;

-- Superseded states of closed visits: amending a closed visit first copies
-- its whole JSON here (never updated or deleted), then bumps the revision.
CREATE TABLE clinical.visit_versions (
    visit_id        bigint NOT NULL REFERENCES clinical.visits (id),
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    revision        int NOT NULL,
    version         int NOT NULL,
    snapshot        jsonb NOT NULL,
    superseded_at   timestamptz NOT NULL DEFAULT now(),
    superseded_by   bigint REFERENCES core.users (id),
    reason          text CHECK (length(reason) <= 500),
    PRIMARY KEY (visit_id, revision)
);
ALTER TABLE clinical.visit_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_versions_scope ON clinical.visit_versions TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON clinical.visit_versions TO his_app;

CREATE FUNCTION clinical.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER visit_versions_append_only BEFORE UPDATE OR DELETE ON clinical.visit_versions
    FOR EACH ROW EXECUTE FUNCTION clinical.refuse_change();

-- A closed visit has exactly one primary diagnosis: checked at commit so a
-- transaction may replace the list and then touch the visit.
CREATE FUNCTION clinical.visit_check_closed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    IF NEW.state = 'closed' THEN
        SELECT count(*) INTO n FROM clinical.visit_diagnoses WHERE visit_id = NEW.id AND is_primary;
        IF n <> 1 THEN
            RAISE EXCEPTION 'closed visit % must have exactly one primary diagnosis', NEW.id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER visits_closed_primary AFTER INSERT OR UPDATE ON clinical.visits
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION clinical.visit_check_closed();

-- The whole visit as the API shows it; also what visit_versions keeps.
-- SECURITY INVOKER (the default): row-level security applies to the caller.
CREATE FUNCTION clinical.visit_json(vid bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', v.id, 'ma_lk', v.ma_lk, 'patient_id', v.patient_id, 'facility_code', f.code,
        'kind', v.kind, 'state', v.state,
        'received_at', v.received_at, 'admitted_at', v.admitted_at, 'discharged_at', v.discharged_at,
        'reason', v.reason, 'department', v.department, 'doctor_id', v.doctor_id,
        'vitals', jsonb_build_object('pulse', v.pulse, 'temperature', v.temperature, 'systolic', v.systolic,
                                     'diastolic', v.diastolic, 'respiration', v.respiration,
                                     'weight_kg', v.weight_kg, 'height_cm', v.height_cm),
        'notes', v.notes,
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
                              WHERE s.visit_id = v.id), '[]'::jsonb),
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
    FROM clinical.visits v JOIN core.facilities f ON f.id = v.facility_id
    WHERE v.id = vid
$$;

-- ---------------------------------------------------------------------------
-- Personal health records (QĐ 831/QĐ-BYT form), one per patient. Sections
-- 1-3 are JSON documents whose structure the API checks (his/phr.c);
-- section 4 (examinations) is not stored: it is the patient's visits.

CREATE TABLE clinical.health_records (
    patient_id      bigint PRIMARY KEY REFERENCES clinical.patients (id),
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    identity        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(identity) = 'object'),     -- section 1
    history         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(history) = 'object'),      -- section 2
    prevention      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(prevention) = 'object'),   -- section 3
    version         int NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      bigint REFERENCES core.users (id),
    CHECK (octet_length(identity::text) + octet_length(history::text) + octet_length(prevention::text) <= 524288)
);
CREATE INDEX health_records_facility ON clinical.health_records (facility_id, updated_at);
ALTER TABLE clinical.health_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY health_records_scope ON clinical.health_records TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON clinical.health_records TO his_app;

-- Every state a record has had, the current one included (version = the
-- record's version after that change). Append-only.
CREATE TABLE clinical.health_record_versions (
    patient_id      bigint NOT NULL REFERENCES clinical.patients (id),
    version         int NOT NULL,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    identity        jsonb NOT NULL,
    history         jsonb NOT NULL,
    prevention      jsonb NOT NULL,
    changed_sections text[] NOT NULL DEFAULT '{}',
    saved_at        timestamptz NOT NULL DEFAULT now(),
    saved_by        bigint REFERENCES core.users (id),
    PRIMARY KEY (patient_id, version)
);
ALTER TABLE clinical.health_record_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY health_record_versions_scope ON clinical.health_record_versions TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON clinical.health_record_versions TO his_app;
CREATE TRIGGER health_record_versions_append_only BEFORE UPDATE OR DELETE ON clinical.health_record_versions
    FOR EACH ROW EXECUTE FUNCTION clinical.refuse_change();
