-- The provincial health dashboard (issue 8 points 3 and 4): rollup tables
-- kept current as rows arrive, so a chart never re-scans history. See
-- docs/dashboard.md.
--
-- How the rollups stay current
-- * Every rollup row is a sum of "contributions" of base rows (a visit adds
--   1 to its facility's day; a primary diagnosis joined to its visit adds 1
--   to the facility's month and ICD-10 code ...). A change to a base row
--   subtracts what the old row contributed and adds what the new one does,
--   grouped by rollup key, in one upsert per rollup (ON CONFLICT ... DO
--   UPDATE SET n = n + delta). The contribution logic is written once per
--   base table, in the dash.c_* functions, which take the old and new rows
--   as arrays of small key types (dash.*_k).
-- * Local writes go through AFTER ... FOR EACH STATEMENT triggers with
--   transition tables: a COPY of two million patients becomes one grouped
--   upsert per rollup key instead of two million updates of the same rows
--   (which, inside one transaction, walk ever longer chains of dead row
--   versions).
-- * Replicated rows: the logical-replication apply worker (and a table's
--   initial copy) runs with session_replication_role = replica and fires
--   only row triggers that are ENABLE ALWAYS (or REPLICA), never statement
--   triggers. So every table also has FOR EACH ROW triggers, ENABLE ALWAYS,
--   which return at once unless the session is a replica: exactly one of
--   the two paths counts any given row.
-- * A contribution that joins two tables (a diagnosis and its visit) counts
--   when both rows exist, whichever arrives first: the initial copy of a
--   subscription loads tables in any order. Deleting a parent row (a visit,
--   a patient, a claims batch) subtracts its joined contributions in a
--   BEFORE DELETE row trigger, while the children are still there; the
--   children's own delete triggers then find no parent and add nothing.
-- * Trigger functions are SECURITY DEFINER (the owner: no row-level
--   security, and his_app needs no write grant on the rollups).
-- * dash.rebuild() recomputes everything from the base tables through the
--   same functions (run below for data present when this migration runs,
--   and after bulk loads made with the triggers disabled).

CREATE SCHEMA dash;
GRANT USAGE ON SCHEMA dash TO his_app;

-- The calendar day of an instant in Vietnam (UTC+7, no daylight saving).
CREATE FUNCTION dash.vn_day(t timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (t AT TIME ZONE 'Asia/Ho_Chi_Minh')::date $$;

-- The province of a facility ('' when unknown: such rows are then visible to nobody).
CREATE FUNCTION dash.fprov(fid bigint) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce((SELECT province_code FROM core.facilities WHERE id = fid), '')
$$;

-- The province of the requesting user's facility (his.facility_id is set by
-- the server with SET LOCAL); NULL outside a request.
CREATE FUNCTION dash.my_province() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT province_code FROM core.facilities WHERE id = nullif(current_setting('his.facility_id', true), '')::bigint
$$;

-- ---------------------------------------------------------------------------
-- Notifiable infectious diseases by ICD-10 code. Groups A/B/C of the Law on
-- the prevention and control of infectious diseases (03/2007/QH12, art. 3);
-- `report` is the reporting delay of Thông tư 54/2015/TT-BYT (24 hours
-- after diagnosis for group A and the listed group-B diseases, weekly for
-- the rest). weekly_threshold: cases per commune per ISO week at which the
-- dashboard raises an alert (defaults: any case of a group-A or elimination
-- target disease; 2 for dengue and hand-foot-mouth, the usual "ổ dịch"
-- definition; higher for diseases with a steady background). The health
-- department sets its own in dash.notifiable_thresholds (per commune).

CREATE TABLE dash.notifiable_diseases (
    disease          text PRIMARY KEY CHECK (disease ~ '^[a-z0-9_]{1,40}$'),
    law_group        char(1) NOT NULL CHECK (law_group IN ('A', 'B', 'C')),
    name_vi          text NOT NULL CHECK (length(name_vi) BETWEEN 1 AND 200),
    name_en          text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 200),
    report           text NOT NULL CHECK (report IN ('24h', 'weekly')),
    weekly_threshold int NOT NULL CHECK (weekly_threshold >= 1),
    sort             smallint NOT NULL
);
CREATE TABLE dash.notifiable_codes (
    code     text PRIMARY KEY CHECK (code ~ '^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$'),
    disease  text NOT NULL REFERENCES dash.notifiable_diseases (disease)
);
CREATE TABLE dash.notifiable_thresholds (
    disease          text NOT NULL REFERENCES dash.notifiable_diseases (disease),
    commune_code     text NOT NULL CHECK (commune_code ~ '^[0-9]{5}$'),
    weekly_threshold int NOT NULL CHECK (weekly_threshold >= 1),
    PRIMARY KEY (disease, commune_code)
);
GRANT SELECT ON dash.notifiable_diseases, dash.notifiable_codes, dash.notifiable_thresholds TO his_app;

INSERT INTO dash.notifiable_diseases (disease, law_group, name_vi, name_en, report, weekly_threshold, sort) VALUES
    ('cholera',        'A', 'Tả', 'Cholera', '24h', 1, 1),
    ('plague',         'A', 'Dịch hạch', 'Plague', '24h', 1, 2),
    ('polio',          'A', 'Bại liệt', 'Poliomyelitis', '24h', 1, 3),
    ('avian_flu',      'A', 'Cúm A(H5N1) và cúm gia cầm lây sang người', 'Avian influenza in humans', '24h', 1, 4),
    ('smallpox',       'A', 'Đậu mùa', 'Smallpox', '24h', 1, 5),
    ('viral_hf',       'A', 'Sốt xuất huyết do vi rút Ebola, Lassa, Marburg', 'Ebola, Lassa and Marburg fevers', '24h', 1, 6),
    ('west_nile',      'A', 'Sốt Tây sông Nin', 'West Nile fever', '24h', 1, 7),
    ('yellow_fever',   'A', 'Sốt vàng', 'Yellow fever', '24h', 1, 8),
    ('sars',           'A', 'Viêm đường hô hấp cấp nặng do vi rút (SARS)', 'Severe acute respiratory syndrome', '24h', 1, 9),
    ('dengue',         'B', 'Sốt xuất huyết Dengue', 'Dengue', 'weekly', 2, 20),
    ('hfmd',           'B', 'Tay chân miệng', 'Hand, foot and mouth disease', 'weekly', 2, 21),
    ('measles',        'B', 'Sởi', 'Measles', '24h', 1, 22),
    ('rubella',        'B', 'Rubella (sốt phát ban)', 'Rubella', 'weekly', 2, 23),
    ('diphtheria',     'B', 'Bạch hầu', 'Diphtheria', '24h', 1, 24),
    ('pertussis',      'B', 'Ho gà', 'Pertussis', 'weekly', 1, 25),
    ('tetanus',        'B', 'Uốn ván', 'Tetanus', 'weekly', 1, 26),
    ('rabies',         'B', 'Dại', 'Rabies', '24h', 1, 27),
    ('anthrax',        'B', 'Than', 'Anthrax', '24h', 1, 28),
    ('meningococcal',  'B', 'Viêm màng não do não mô cầu', 'Meningococcal meningitis', '24h', 1, 29),
    ('encephalitis',   'B', 'Viêm não vi rút (kể cả viêm não Nhật Bản)', 'Viral encephalitis (incl. Japanese encephalitis)', '24h', 1, 30),
    ('influenza',      'B', 'Cúm', 'Influenza', 'weekly', 10, 31),
    ('covid19',        'B', 'COVID-19', 'COVID-19', 'weekly', 5, 32),
    ('adenovirus',     'B', 'Bệnh do vi rút Adeno', 'Adenovirus disease', 'weekly', 5, 33),
    ('zika',           'B', 'Bệnh do vi rút Zika', 'Zika virus disease', '24h', 1, 34),
    ('typhoid',        'B', 'Thương hàn', 'Typhoid and paratyphoid fever', 'weekly', 2, 35),
    ('shigellosis',    'B', 'Lỵ trực trùng', 'Shigellosis', 'weekly', 3, 36),
    ('amoebiasis',     'B', 'Lỵ a-míp', 'Amoebic dysentery', 'weekly', 3, 37),
    ('rota_diarrhoea', 'B', 'Tiêu chảy do vi rút Rota', 'Rotavirus enteritis', 'weekly', 5, 38),
    ('mumps',          'B', 'Quai bị', 'Mumps', 'weekly', 3, 39),
    ('varicella',      'B', 'Thủy đậu', 'Varicella', 'weekly', 3, 40),
    ('viral_hepatitis','B', 'Viêm gan vi rút', 'Viral hepatitis', 'weekly', 5, 41),
    ('malaria',        'B', 'Sốt rét', 'Malaria', 'weekly', 1, 42),
    ('hiv',            'B', 'HIV/AIDS', 'HIV/AIDS', 'weekly', 3, 43),
    ('tuberculosis',   'B', 'Lao phổi', 'Pulmonary tuberculosis', 'weekly', 3, 44),
    ('leptospirosis',  'C', 'Bệnh do xoắn khuẩn vàng da (Leptospira)', 'Leptospirosis', 'weekly', 1, 60),
    ('leprosy',        'C', 'Phong', 'Leprosy', 'weekly', 1, 61),
    ('syphilis',       'C', 'Giang mai', 'Syphilis', 'weekly', 3, 62),
    ('gonorrhoea',     'C', 'Lậu', 'Gonorrhoea', 'weekly', 3, 63),
    ('trachoma',       'C', 'Mắt hột', 'Trachoma', 'weekly', 3, 64);

INSERT INTO dash.notifiable_codes (code, disease) VALUES
    ('A00', 'cholera'), ('A20', 'plague'), ('A80', 'polio'), ('J09', 'avian_flu'), ('B03', 'smallpox'),
    ('A98.4', 'viral_hf'), ('A96.2', 'viral_hf'), ('A98.3', 'viral_hf'), ('A92.3', 'west_nile'),
    ('A95', 'yellow_fever'), ('U04', 'sars'),
    ('A90', 'dengue'), ('A91', 'dengue'), ('A97', 'dengue'),
    ('B08.4', 'hfmd'), ('B05', 'measles'), ('B06', 'rubella'), ('A36', 'diphtheria'), ('A37', 'pertussis'),
    ('A33', 'tetanus'), ('A34', 'tetanus'), ('A35', 'tetanus'), ('A82', 'rabies'), ('A22', 'anthrax'),
    ('A39', 'meningococcal'), ('A83', 'encephalitis'), ('A84', 'encephalitis'), ('A85', 'encephalitis'),
    ('A86', 'encephalitis'), ('J10', 'influenza'), ('J11', 'influenza'), ('U07.1', 'covid19'),
    ('U07.2', 'covid19'), ('B34.0', 'adenovirus'), ('A92.5', 'zika'), ('A01', 'typhoid'),
    ('A03', 'shigellosis'), ('A06', 'amoebiasis'), ('A08.0', 'rota_diarrhoea'), ('B26', 'mumps'),
    ('B01', 'varicella'), ('B15', 'viral_hepatitis'), ('B16', 'viral_hepatitis'), ('B17', 'viral_hepatitis'),
    ('B18', 'viral_hepatitis'), ('B19', 'viral_hepatitis'), ('B50', 'malaria'), ('B51', 'malaria'),
    ('B52', 'malaria'), ('B53', 'malaria'), ('B54', 'malaria'), ('B20', 'hiv'), ('B21', 'hiv'), ('B22', 'hiv'),
    ('B23', 'hiv'), ('B24', 'hiv'), ('A15', 'tuberculosis'), ('A16', 'tuberculosis'), ('A27', 'leptospirosis'),
    ('A30', 'leprosy'), ('A50', 'syphilis'), ('A51', 'syphilis'), ('A52', 'syphilis'), ('A53', 'syphilis'),
    ('A54', 'gonorrhoea'), ('A71', 'trachoma');

-- The notifiable disease of a diagnosis code: the longest listed prefix
-- ('A97.1' -> A97 -> dengue; 'B08.4' -> hfmd; 'B08.3' -> none).
CREATE FUNCTION dash.disease_of(icd10 text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT c.disease FROM dash.notifiable_codes c
    WHERE c.code IN (icd10, left(icd10, 5), left(icd10, 3))
    ORDER BY length(c.code) DESC LIMIT 1
$$;

-- ---------------------------------------------------------------------------
-- Districts. A district is a district hospital's facility code. It covers
-- the hospital itself, the facilities whose parent_id is the hospital
-- (commune stations), and communes: those of its facilities plus any listed
-- in dash.district_communes (communes without a station of their own).
-- Facility-based charts (visits, diagnoses, prescriptions, claims,
-- referrals) filter by facility; commune-based ones (notifiable diseases,
-- record coverage) by commune of residence.

CREATE TABLE dash.district_communes (
    district_code char(5) NOT NULL CHECK (district_code ~ '^[0-9]{2}[0-9A-Z]{3}$'),
    commune_code  text NOT NULL CHECK (commune_code ~ '^[0-9]{5}$'),
    PRIMARY KEY (district_code, commune_code)
);
GRANT SELECT ON dash.district_communes TO his_app;

CREATE FUNCTION dash.district_facilities(district text) RETURNS SETOF bigint
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT f.id FROM core.facilities d JOIN core.facilities f ON f.id = d.id OR f.parent_id = d.id
    WHERE d.code = district
$$;

CREATE FUNCTION dash.district_communes_of(district text) RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT f.commune_code FROM core.facilities f
    WHERE f.id IN (SELECT dash.district_facilities(district)) AND f.commune_code IS NOT NULL
    UNION
    SELECT c.commune_code FROM dash.district_communes c WHERE c.district_code = district
$$;

-- ---------------------------------------------------------------------------
-- Rollup tables. province_code is the facility's (for row-level security);
-- rows whose counts come back to zero are kept (a later row reuses them)
-- and the API leaves them out.

CREATE TABLE dash.visits_daily (
    facility_id   bigint NOT NULL,
    day           date NOT NULL,
    province_code text NOT NULL,
    visits        int NOT NULL,
    PRIMARY KEY (facility_id, day)
);
CREATE INDEX visits_daily_province ON dash.visits_daily (province_code, day);

-- Primary diagnoses by month (a period's whole months) and by day (the
-- partial months at either end), so any period is exact and a year reads
-- twelve months of rows, not 365 days.
CREATE TABLE dash.diagnoses_monthly (
    facility_id   bigint NOT NULL,
    month         date NOT NULL,
    icd10         text NOT NULL,
    province_code text NOT NULL,
    cases         int NOT NULL,
    PRIMARY KEY (facility_id, month, icd10)
);
CREATE INDEX diagnoses_monthly_province ON dash.diagnoses_monthly (province_code, month);
CREATE TABLE dash.diagnoses_daily (
    facility_id   bigint NOT NULL,
    day           date NOT NULL,
    icd10         text NOT NULL,
    province_code text NOT NULL,
    cases         int NOT NULL,
    PRIMARY KEY (facility_id, day, icd10)
);
CREATE INDEX diagnoses_daily_province ON dash.diagnoses_daily (province_code, day);

-- Notifiable cases by the patient's commune of residence ('' unknown) and
-- ISO week (its Monday): one per visit and diagnosis code of the disease.
CREATE TABLE dash.notifiable_weekly (
    province_code text NOT NULL,
    week          date NOT NULL,
    commune_code  text NOT NULL,
    disease       text NOT NULL,
    cases         int NOT NULL,
    PRIMARY KEY (province_code, week, commune_code, disease)
);

-- Registered people (patients not merged away) and their QĐ 831 health
-- records, by facility and commune of residence.
CREATE TABLE dash.record_coverage (
    facility_id   bigint NOT NULL,
    commune_code  text NOT NULL,
    province_code text NOT NULL,
    people        int NOT NULL,
    records       int NOT NULL,
    PRIMARY KEY (facility_id, commune_code)
);

-- Prescriptions issued here (by issue day), cancelled, dispensings, and
-- the delivery state of the prescriptions' messages to the national
-- prescription portal (core.outbox, by the day they were queued).
CREATE TABLE dash.prescriptions_daily (
    facility_id   bigint NOT NULL,
    day           date NOT NULL,
    province_code text NOT NULL,
    issued        int NOT NULL DEFAULT 0,
    cancelled     int NOT NULL DEFAULT 0,
    dispensings   int NOT NULL DEFAULT 0,
    portal_queued int NOT NULL DEFAULT 0,
    portal_sent   int NOT NULL DEFAULT 0,
    portal_acknowledged int NOT NULL DEFAULT 0,
    portal_error  int NOT NULL DEFAULT 0,
    PRIMARY KEY (facility_id, day)
);
CREATE INDEX prescriptions_daily_province ON dash.prescriptions_daily (province_code, day);

-- Claims (one per visit and batch) by settlement month: states and amounts
-- by payer (insurer T_BHTT, patient T_BNCCT + T_BNTT, other T_NGUONKHAC).
CREATE TABLE dash.claims_monthly (
    facility_id    bigint NOT NULL,
    month          date NOT NULL,
    province_code  text NOT NULL,
    claims         int NOT NULL DEFAULT 0,
    ready          int NOT NULL DEFAULT 0,
    invalid        int NOT NULL DEFAULT 0,
    sent           int NOT NULL DEFAULT 0,
    accepted       int NOT NULL DEFAULT 0,
    rejected       int NOT NULL DEFAULT 0,
    insurer_amount numeric(18,2) NOT NULL DEFAULT 0,
    patient_amount numeric(18,2) NOT NULL DEFAULT 0,
    other_amount   numeric(18,2) NOT NULL DEFAULT 0,
    PRIMARY KEY (facility_id, month)
);

-- Referrals out (visits closed with MA_NOI_DEN), by referring facility,
-- receiving facility code and day of discharge.
CREATE TABLE dash.referrals_daily (
    facility_id   bigint NOT NULL,
    to_facility   char(5) NOT NULL,
    day           date NOT NULL,
    province_code text NOT NULL,
    referrals     int NOT NULL,
    PRIMARY KEY (facility_id, to_facility, day)
);
CREATE INDEX referrals_daily_province ON dash.referrals_daily (province_code, day);

-- The health department (and admins) read the rollups of their own
-- province, every facility of it; nobody else reads them.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['visits_daily', 'diagnoses_monthly', 'diagnoses_daily', 'notifiable_weekly',
                             'record_coverage', 'prescriptions_daily', 'claims_monthly', 'referrals_daily'] LOOP
        EXECUTE format('ALTER TABLE dash.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON dash.%I FOR SELECT TO his_app USING ('
                       'province_code = (SELECT dash.my_province()) '
                       'AND current_setting(''his.role'', true) IN (''health_department'', ''admin''))',
                       t || '_province', t);
        EXECUTE format('GRANT SELECT ON dash.%I TO his_app', t);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Keys: what of a base row the rollups depend on. An update that leaves
-- them unchanged (vitals, notes, an outbox message's retries) costs no
-- rollup write.

CREATE TYPE dash.visit_k AS (id bigint, facility_id bigint, patient_id bigint, received_at timestamptz,
                             discharged_at timestamptz, referral_to text);
CREATE TYPE dash.diag_k AS (visit_id bigint, icd10 text, is_primary boolean);
CREATE TYPE dash.patient_k AS (id bigint, facility_id bigint, commune_code text, live boolean);
CREATE TYPE dash.hr_k AS (patient_id bigint);
CREATE TYPE dash.rx_k AS (facility_id bigint, issued_at timestamptz, local boolean, cancelled boolean);
CREATE TYPE dash.disp_k AS (facility_id bigint, dispensed_at timestamptz);
CREATE TYPE dash.outbox_k AS (facility_id bigint, created_at timestamptz, state text);
CREATE TYPE dash.claim_k AS (batch_id bigint, facility_id bigint, state text, insurer numeric, patient numeric,
                             other numeric);
CREATE TYPE dash.batch_k AS (id bigint);
-- A diagnosis joined to its visit and patient (commune NULL while the
-- patient row is absent: no notifiable contribution yet), signed.
CREATE TYPE dash.dfact AS (facility_id bigint, day date, icd10 text, is_primary boolean, commune_code text, s int);
-- A claim joined to its batch's month, signed.
CREATE TYPE dash.cfact AS (facility_id bigint, month date, state text, insurer numeric, patient numeric,
                           other numeric, s int);

-- ---------------------------------------------------------------------------
-- Contributions. Each takes the old rows (subtracted) and the new rows
-- (added); NULL or empty arrays are fine. Upserts go in key order so that
-- concurrent writers take the rollup rows' locks in the same order.

CREATE FUNCTION dash.c_visits(o dash.visit_k[], n dash.visit_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO dash.visits_daily AS t (facility_id, day, province_code, visits)
    SELECT g.f, g.d, dash.fprov(g.f), g.c FROM (
        SELECT x.facility_id AS f, dash.vn_day(x.received_at) AS d, sum(x.s)::int AS c
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        GROUP BY 1, 2 HAVING sum(x.s) <> 0 ORDER BY 1, 2) g
    ON CONFLICT (facility_id, day) DO UPDATE SET visits = t.visits + EXCLUDED.visits;

    INSERT INTO dash.referrals_daily AS t (facility_id, to_facility, day, province_code, referrals)
    SELECT g.f, g.tf, g.d, dash.fprov(g.f), g.c FROM (
        SELECT x.facility_id AS f, x.referral_to AS tf, dash.vn_day(coalesce(x.discharged_at, x.received_at)) AS d,
               sum(x.s)::int AS c
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        WHERE x.referral_to IS NOT NULL
        GROUP BY 1, 2, 3 HAVING sum(x.s) <> 0 ORDER BY 1, 2, 3) g
    ON CONFLICT (facility_id, to_facility, day) DO UPDATE SET referrals = t.referrals + EXCLUDED.referrals;
END
$$;

CREATE FUNCTION dash.add_diag_facts(f dash.dfact[], do_diag boolean, do_notif boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF coalesce(cardinality(f), 0) = 0 THEN
        RETURN;
    END IF;
    IF do_diag THEN
        INSERT INTO dash.diagnoses_monthly AS t (facility_id, month, icd10, province_code, cases)
        SELECT g.fid, g.m, g.icd10, dash.fprov(g.fid), g.c FROM (
            SELECT x.facility_id AS fid, date_trunc('month', x.day)::date AS m, x.icd10, sum(x.s)::int AS c
            FROM unnest(f) x WHERE x.is_primary
            GROUP BY 1, 2, 3 HAVING sum(x.s) <> 0 ORDER BY 1, 2, 3) g
        ON CONFLICT (facility_id, month, icd10) DO UPDATE SET cases = t.cases + EXCLUDED.cases;
        INSERT INTO dash.diagnoses_daily AS t (facility_id, day, icd10, province_code, cases)
        SELECT g.fid, g.d, g.icd10, dash.fprov(g.fid), g.c FROM (
            SELECT x.facility_id AS fid, x.day AS d, x.icd10, sum(x.s)::int AS c
            FROM unnest(f) x WHERE x.is_primary
            GROUP BY 1, 2, 3 HAVING sum(x.s) <> 0 ORDER BY 1, 2, 3) g
        ON CONFLICT (facility_id, day, icd10) DO UPDATE SET cases = t.cases + EXCLUDED.cases;
    END IF;
    IF do_notif THEN
        INSERT INTO dash.notifiable_weekly AS t (province_code, week, commune_code, disease, cases)
        SELECT g.p, g.w, g.cc, g.dis, g.c FROM (
            SELECT dash.fprov(x.facility_id) AS p, date_trunc('week', x.day)::date AS w, x.commune_code AS cc,
                   dash.disease_of(x.icd10) AS dis, sum(x.s)::int AS c
            FROM unnest(f) x WHERE x.commune_code IS NOT NULL
            GROUP BY 1, 2, 3, 4 HAVING sum(x.s) <> 0) g
        WHERE g.dis IS NOT NULL
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (province_code, week, commune_code, disease) DO UPDATE SET cases = t.cases + EXCLUDED.cases;
    END IF;
END
$$;

-- Visits' diagnoses (present now) counted through the visits.
CREATE FUNCTION dash.c_visit_diags(o dash.visit_k[], n dash.visit_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM dash.add_diag_facts(ARRAY(
        SELECT ROW(x.facility_id, dash.vn_day(x.received_at), d.icd10, d.is_primary,
                   CASE WHEN p.id IS NULL THEN NULL ELSE coalesce(p.commune_code, '') END, x.s)::dash.dfact
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        JOIN clinical.visit_diagnoses d ON d.visit_id = x.id
        LEFT JOIN clinical.patients p ON p.id = x.patient_id), true, true);
END
$$;

-- Diagnoses counted through their visits (present now).
CREATE FUNCTION dash.c_diags(o dash.diag_k[], n dash.diag_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM dash.add_diag_facts(ARRAY(
        SELECT ROW(v.facility_id, dash.vn_day(v.received_at), x.icd10, x.is_primary,
                   CASE WHEN p.id IS NULL THEN NULL ELSE coalesce(p.commune_code, '') END, x.s)::dash.dfact
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        JOIN clinical.visits v ON v.id = x.visit_id
        LEFT JOIN clinical.patients p ON p.id = v.patient_id), true, true);
END
$$;

-- Patients: people and records by commune, and the notifiable cases of
-- their visits (whose commune is the patient's).
CREATE FUNCTION dash.c_patients(o dash.patient_k[], n dash.patient_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO dash.record_coverage AS t (facility_id, commune_code, province_code, people, records)
    SELECT g.f, g.cc, dash.fprov(g.f), g.people, g.records FROM (
        SELECT y.f, y.cc, sum(y.s)::int AS people, sum(y.s * y.hr)::int AS records
        FROM (SELECT x.facility_id AS f, coalesce(x.commune_code, '') AS cc, x.s,
                     (SELECT count(*) FROM clinical.health_records h WHERE h.patient_id = x.id)::int AS hr
              FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
              WHERE x.live) y
        GROUP BY 1, 2 HAVING sum(y.s) <> 0 OR sum(y.s * y.hr) <> 0
        ORDER BY 1, 2) g
    ON CONFLICT (facility_id, commune_code) DO UPDATE
        SET people = t.people + EXCLUDED.people, records = t.records + EXCLUDED.records;

    PERFORM dash.add_diag_facts(ARRAY(
        SELECT ROW(v.facility_id, dash.vn_day(v.received_at), d.icd10, d.is_primary,
                   coalesce(x.commune_code, ''), x.s)::dash.dfact
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        JOIN clinical.visits v ON v.patient_id = x.id
        JOIN clinical.visit_diagnoses d ON d.visit_id = v.id
        WHERE dash.disease_of(d.icd10) IS NOT NULL), false, true);
END
$$;

CREATE FUNCTION dash.c_records(o dash.hr_k[], n dash.hr_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO dash.record_coverage AS t (facility_id, commune_code, province_code, people, records)
    SELECT g.f, g.cc, dash.fprov(g.f), 0, g.c FROM (
        SELECT p.facility_id AS f, coalesce(p.commune_code, '') AS cc, sum(x.s)::int AS c
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        JOIN clinical.patients p ON p.id = x.patient_id AND p.merged_into IS NULL
        GROUP BY 1, 2 HAVING sum(x.s) <> 0 ORDER BY 1, 2) g
    ON CONFLICT (facility_id, commune_code) DO UPDATE SET records = t.records + EXCLUDED.records;
END
$$;

-- Prescriptions, dispensings and the portal messages share one row per
-- facility and day; each adds its own columns.
CREATE FUNCTION dash.add_rx(f bigint, d date, issued int, cancelled int, disp int, q int, snt int, ack int,
                            err int) RETURNS void
LANGUAGE sql SET search_path = pg_catalog AS $$
    INSERT INTO dash.prescriptions_daily AS t (facility_id, day, province_code, issued, cancelled, dispensings,
                                               portal_queued, portal_sent, portal_acknowledged, portal_error)
    VALUES (f, d, dash.fprov(f), issued, cancelled, disp, q, snt, ack, err)
    ON CONFLICT (facility_id, day) DO UPDATE SET
        issued = t.issued + EXCLUDED.issued, cancelled = t.cancelled + EXCLUDED.cancelled,
        dispensings = t.dispensings + EXCLUDED.dispensings, portal_queued = t.portal_queued + EXCLUDED.portal_queued,
        portal_sent = t.portal_sent + EXCLUDED.portal_sent,
        portal_acknowledged = t.portal_acknowledged + EXCLUDED.portal_acknowledged,
        portal_error = t.portal_error + EXCLUDED.portal_error
$$;

CREATE FUNCTION dash.c_rx(o dash.rx_k[], n dash.rx_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM dash.add_rx(g.f, g.d, g.i, g.c, 0, 0, 0, 0, 0) FROM (
        SELECT x.facility_id AS f, dash.vn_day(x.issued_at) AS d,
               sum(CASE WHEN x.local THEN x.s ELSE 0 END)::int AS i,
               sum(CASE WHEN x.cancelled THEN x.s ELSE 0 END)::int AS c
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        GROUP BY 1, 2 ORDER BY 1, 2) g
    WHERE g.i <> 0 OR g.c <> 0;
END
$$;

CREATE FUNCTION dash.c_disp(o dash.disp_k[], n dash.disp_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM dash.add_rx(g.f, g.d, 0, 0, g.c, 0, 0, 0, 0) FROM (
        SELECT x.facility_id AS f, dash.vn_day(x.dispensed_at) AS d, sum(x.s)::int AS c
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        GROUP BY 1, 2 HAVING sum(x.s) <> 0 ORDER BY 1, 2) g;
END
$$;

CREATE FUNCTION dash.c_outbox(o dash.outbox_k[], n dash.outbox_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM dash.add_rx(g.f, g.d, 0, 0, 0, g.q, g.st, g.a, g.e) FROM (
        SELECT x.facility_id AS f, dash.vn_day(x.created_at) AS d,
               sum(CASE WHEN x.state = 'queued' THEN x.s ELSE 0 END)::int AS q,
               sum(CASE WHEN x.state = 'sent' THEN x.s ELSE 0 END)::int AS st,
               sum(CASE WHEN x.state = 'acknowledged' THEN x.s ELSE 0 END)::int AS a,
               sum(CASE WHEN x.state = 'error' THEN x.s ELSE 0 END)::int AS e
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        GROUP BY 1, 2 ORDER BY 1, 2) g
    WHERE g.q <> 0 OR g.st <> 0 OR g.a <> 0 OR g.e <> 0;
END
$$;

CREATE FUNCTION dash.add_claim_facts(f dash.cfact[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO dash.claims_monthly AS t (facility_id, month, province_code, claims, ready, invalid, sent, accepted,
                                          rejected, insurer_amount, patient_amount, other_amount)
    SELECT g.fid, g.m, dash.fprov(g.fid), g.c, g.rd, g.iv, g.st, g.ac, g.rj, g.ia, g.pa, g.oa FROM (
        SELECT x.facility_id AS fid, x.month AS m, sum(x.s)::int AS c,
               sum(CASE WHEN x.state = 'ready' THEN x.s ELSE 0 END)::int AS rd,
               sum(CASE WHEN x.state = 'invalid' THEN x.s ELSE 0 END)::int AS iv,
               sum(CASE WHEN x.state = 'sent' THEN x.s ELSE 0 END)::int AS st,
               sum(CASE WHEN x.state = 'accepted' THEN x.s ELSE 0 END)::int AS ac,
               sum(CASE WHEN x.state = 'rejected' THEN x.s ELSE 0 END)::int AS rj,
               sum(x.s * x.insurer) AS ia, sum(x.s * x.patient) AS pa, sum(x.s * x.other) AS oa
        FROM unnest(f) x GROUP BY 1, 2 ORDER BY 1, 2) g
    WHERE g.c <> 0 OR g.rd <> 0 OR g.iv <> 0 OR g.st <> 0 OR g.ac <> 0 OR g.rj <> 0 OR g.ia <> 0 OR g.pa <> 0
       OR g.oa <> 0
    ON CONFLICT (facility_id, month) DO UPDATE SET
        claims = t.claims + EXCLUDED.claims, ready = t.ready + EXCLUDED.ready, invalid = t.invalid + EXCLUDED.invalid,
        sent = t.sent + EXCLUDED.sent, accepted = t.accepted + EXCLUDED.accepted,
        rejected = t.rejected + EXCLUDED.rejected, insurer_amount = t.insurer_amount + EXCLUDED.insurer_amount,
        patient_amount = t.patient_amount + EXCLUDED.patient_amount,
        other_amount = t.other_amount + EXCLUDED.other_amount;
END
$$;

CREATE FUNCTION dash.c_claims(o dash.claim_k[], n dash.claim_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM dash.add_claim_facts(ARRAY(
        SELECT ROW(x.facility_id, b.month, x.state, x.insurer, x.patient, x.other, x.s)::dash.cfact
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        JOIN claims.batches b ON b.id = x.batch_id));
END
$$;

CREATE FUNCTION dash.c_batches(o dash.batch_k[], n dash.batch_k[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM dash.add_claim_facts(ARRAY(
        SELECT ROW(i.facility_id, b.month, i.state, i.t_bhtt, i.t_bncct + i.t_bntt, i.t_nguonkhac, x.s)::dash.cfact
        FROM (SELECT r.*, -1 AS s FROM unnest(o) r UNION ALL SELECT r.*, 1 FROM unnest(n) r) x
        JOIN claims.batches b ON b.id = x.id
        JOIN claims.batch_items i ON i.batch_id = b.id));
END
$$;

-- ---------------------------------------------------------------------------
-- Key extraction (one place per table, used by both trigger paths).

CREATE FUNCTION dash.k(r clinical.visits) RETURNS dash.visit_k LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(r.id, r.facility_id, r.patient_id, r.received_at, r.discharged_at, r.referral_to::text)::dash.visit_k $$;
CREATE FUNCTION dash.k(r clinical.visit_diagnoses) RETURNS dash.diag_k LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(r.visit_id, r.icd10, r.is_primary)::dash.diag_k $$;
CREATE FUNCTION dash.k(r clinical.patients) RETURNS dash.patient_k LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(r.id, r.facility_id, r.commune_code, r.merged_into IS NULL)::dash.patient_k $$;
CREATE FUNCTION dash.k(r clinical.health_records) RETURNS dash.hr_k LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(r.patient_id)::dash.hr_k $$;
CREATE FUNCTION dash.k(r pharmacy.prescriptions) RETURNS dash.rx_k LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(r.facility_id, r.issued_at, r.origin = 'local', r.state = 'cancelled')::dash.rx_k $$;
CREATE FUNCTION dash.k(r pharmacy.dispensings) RETURNS dash.disp_k LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(r.facility_id, r.dispensed_at)::dash.disp_k $$;
-- Only prescription messages count; others have no key (all fields NULL).
CREATE FUNCTION dash.k(r core.outbox) RETURNS dash.outbox_k LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN r.target = 'prescription-portal' THEN ROW(r.facility_id, r.created_at, r.state)::dash.outbox_k END $$;
CREATE FUNCTION dash.k(r claims.batch_items) RETURNS dash.claim_k LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(r.batch_id, r.facility_id, r.state, r.t_bhtt, r.t_bncct + r.t_bntt, r.t_nguonkhac)::dash.claim_k $$;
CREATE FUNCTION dash.k(r claims.batches) RETURNS dash.batch_k LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(r.id)::dash.batch_k $$;

-- ---------------------------------------------------------------------------
-- Triggers. One function per table serves every path:
--   statement level (local writes): old/new rows from the transition
--     tables ot/nt; updates keep only rows whose key changed;
--   row level AFTER (replicated rows): only when session_replication_role
--     is replica, so local writes are not counted twice;
--   row level BEFORE DELETE (parent tables, every session): subtracts the
--     row's contributions, joined children included, before the children
--     go.
-- The SQL naming ot/nt is planned only when its branch runs (plpgsql plans
-- lazily, per trigger), so one function serves a table's three statement
-- triggers. A composite "IS NULL" is true only when every field is NULL:
-- that is how a row without a key (an outbox message of another target)
-- is left out.

CREATE FUNCTION dash.make_trigger_function(fn text, tbl regclass, kt text, calls text[], upd_join text) RETURNS void
LANGUAGE plpgsql AS $mk$
DECLARE
    body text := '';
    c text;
BEGIN
    FOREACH c IN ARRAY calls LOOP
        body := body || format('PERFORM dash.%s(o, n); ', c);
    END LOOP;
    EXECUTE format($f$
CREATE FUNCTION dash.%1$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $b$
DECLARE
    o dash.%2$I[];
    n dash.%2$I[];
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        IF TG_WHEN = 'AFTER' AND current_setting('session_replication_role') <> 'replica' THEN
            RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' AND NOT dash.k(OLD::%5$s) IS NULL THEN o := ARRAY[dash.k(OLD::%5$s)]; END IF;
        IF TG_OP <> 'DELETE' AND NOT dash.k(NEW::%5$s) IS NULL THEN n := ARRAY[dash.k(NEW::%5$s)]; END IF;
        IF TG_OP = 'UPDATE' AND o IS NOT DISTINCT FROM n THEN
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        n := ARRAY(SELECT dash.k(x::%5$s) FROM nt x WHERE NOT dash.k(x::%5$s) IS NULL);
    ELSIF TG_OP = 'DELETE' THEN
        o := ARRAY(SELECT dash.k(x::%5$s) FROM ot x WHERE NOT dash.k(x::%5$s) IS NULL);
    ELSE
        SELECT array_agg(dash.k(a::%5$s)) FILTER (WHERE NOT dash.k(a::%5$s) IS NULL),
               array_agg(dash.k(b::%5$s)) FILTER (WHERE NOT dash.k(b::%5$s) IS NULL)
        INTO o, n
        FROM ot a JOIN nt b ON %3$s
        WHERE dash.k(a::%5$s) IS DISTINCT FROM dash.k(b::%5$s);
    END IF;
    IF coalesce(cardinality(o), 0) + coalesce(cardinality(n), 0) > 0 THEN
        %4$s
    END IF;
    IF TG_LEVEL = 'ROW' AND TG_WHEN = 'BEFORE' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$b$$f$, fn, kt, upd_join, body, tbl);
END
$mk$;

CREATE FUNCTION dash.make_triggers(tbl regclass, fn text, parent boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n text := 'dash_' || replace(tbl::text, '.', '_');
BEGIN
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS nt '
                   'FOR EACH STATEMENT EXECUTE FUNCTION dash.%I()', n || '_ins', tbl, fn);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS ot NEW TABLE AS nt '
                   'FOR EACH STATEMENT EXECUTE FUNCTION dash.%I()', n || '_upd', tbl, fn);
    IF parent THEN
        EXECUTE format('CREATE TRIGGER %I BEFORE DELETE ON %s FOR EACH ROW EXECUTE FUNCTION dash.%I()',
                       n || '_del', tbl, fn);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', tbl, n || '_del');
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION dash.%I()',
                       n || '_row', tbl, fn);
    ELSE
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS ot '
                       'FOR EACH STATEMENT EXECUTE FUNCTION dash.%I()', n || '_del', tbl, fn);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
                       'EXECUTE FUNCTION dash.%I()', n || '_row', tbl, fn);
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', tbl, n || '_row');
END
$$;

SELECT dash.make_trigger_function('t_visits', 'clinical.visits', 'visit_k', ARRAY['c_visits', 'c_visit_diags'], 'a.id = b.id');
SELECT dash.make_trigger_function('t_diags', 'clinical.visit_diagnoses', 'diag_k', ARRAY['c_diags'], 'a.visit_id = b.visit_id AND a.seq = b.seq');
SELECT dash.make_trigger_function('t_patients', 'clinical.patients', 'patient_k', ARRAY['c_patients'], 'a.id = b.id');
SELECT dash.make_trigger_function('t_records', 'clinical.health_records', 'hr_k', ARRAY['c_records'], 'a.patient_id = b.patient_id');
SELECT dash.make_trigger_function('t_rx', 'pharmacy.prescriptions', 'rx_k', ARRAY['c_rx'], 'a.id = b.id');
SELECT dash.make_trigger_function('t_disp', 'pharmacy.dispensings', 'disp_k', ARRAY['c_disp'], 'a.id = b.id');
SELECT dash.make_trigger_function('t_outbox', 'core.outbox', 'outbox_k', ARRAY['c_outbox'], 'a.id = b.id');
SELECT dash.make_trigger_function('t_claims', 'claims.batch_items', 'claim_k', ARRAY['c_claims'], 'a.id = b.id');
SELECT dash.make_trigger_function('t_batches', 'claims.batches', 'batch_k', ARRAY['c_batches'], 'a.id = b.id');

SELECT dash.make_triggers('clinical.visits', 't_visits', true);
SELECT dash.make_triggers('clinical.visit_diagnoses', 't_diags', false);
SELECT dash.make_triggers('clinical.patients', 't_patients', true);
SELECT dash.make_triggers('clinical.health_records', 't_records', false);
SELECT dash.make_triggers('pharmacy.prescriptions', 't_rx', false);
SELECT dash.make_triggers('pharmacy.dispensings', 't_disp', false);
SELECT dash.make_triggers('core.outbox', 't_outbox', false);
SELECT dash.make_triggers('claims.batch_items', 't_claims', false);
SELECT dash.make_triggers('claims.batches', 't_batches', true);

DROP FUNCTION dash.make_triggers(regclass, text, boolean);
DROP FUNCTION dash.make_trigger_function(text, regclass, text, text[], text);

-- ---------------------------------------------------------------------------
-- Rebuild from the base tables through the same contribution functions, in
-- slices of ids (one grouped upsert per rollup and slice). Joined
-- contributions are counted once, through the parent table.

CREATE FUNCTION dash.rebuild(slice int DEFAULT 200000) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    lo bigint;
BEGIN
    TRUNCATE dash.visits_daily, dash.diagnoses_monthly, dash.diagnoses_daily, dash.notifiable_weekly,
             dash.record_coverage, dash.prescriptions_daily, dash.claims_monthly, dash.referrals_daily;
    -- visits, with their diagnoses and (for notifiable cases) their patients
    lo := (SELECT min(id) FROM clinical.visits);
    WHILE lo IS NOT NULL LOOP
        PERFORM dash.c_visits(NULL, ARRAY(SELECT dash.k(v) FROM clinical.visits v
                                          WHERE v.id >= lo AND v.id < lo + slice));
        PERFORM dash.c_visit_diags(NULL, ARRAY(SELECT dash.k(v) FROM clinical.visits v
                                               WHERE v.id >= lo AND v.id < lo + slice));
        lo := (SELECT min(v.id) FROM clinical.visits v WHERE v.id >= lo + slice);
    END LOOP;
    -- people and records (not the notifiable part: counted through visits)
    lo := (SELECT min(id) FROM clinical.patients);
    WHILE lo IS NOT NULL LOOP
        INSERT INTO dash.record_coverage AS t (facility_id, commune_code, province_code, people, records)
        SELECT g.f, g.cc, dash.fprov(g.f), g.people, g.records FROM (
            SELECT p.facility_id AS f, coalesce(p.commune_code, '') AS cc, count(*)::int AS people,
                   count(h.patient_id)::int AS records
            FROM clinical.patients p LEFT JOIN clinical.health_records h ON h.patient_id = p.id
            WHERE p.id >= lo AND p.id < lo + slice AND p.merged_into IS NULL
            GROUP BY 1, 2 ORDER BY 1, 2) g
        ON CONFLICT (facility_id, commune_code) DO UPDATE
            SET people = t.people + EXCLUDED.people, records = t.records + EXCLUDED.records;
        lo := (SELECT min(p.id) FROM clinical.patients p WHERE p.id >= lo + slice);
    END LOOP;
    PERFORM dash.c_rx(NULL, ARRAY(SELECT dash.k(r) FROM pharmacy.prescriptions r));
    PERFORM dash.c_disp(NULL, ARRAY(SELECT dash.k(r) FROM pharmacy.dispensings r));
    PERFORM dash.c_outbox(NULL, ARRAY(SELECT dash.k(r) FROM core.outbox r WHERE r.target = 'prescription-portal'));
    PERFORM dash.c_batches(NULL, ARRAY(SELECT dash.k(b) FROM claims.batches b));
END
$$;
REVOKE ALL ON FUNCTION dash.rebuild(int) FROM PUBLIC;

SELECT dash.rebuild();
