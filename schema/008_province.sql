-- The provincial data link (issue 8 points 1, 2 and 5): every server (each
-- district hospital and the provincial hospital) publishes its clinical
-- tables in the publication his_district; the provincial server subscribes
-- to each district (his/province.c). PostgreSQL's logical replication maps
-- rows by schema.table name, so ids must mean the same on every server:
--   * facility ids are computed from the 5-character facility code;
--   * each server has a node identity (core.node, set once by
--     `his province node --code CODE`) and draws the ids of every published
--     table from its own range [node * 10^9, node * 10^9 + 10^9).
-- A row's server of origin is therefore its key's range (key / 10^9), and
-- its facility is facility_id as everywhere. See docs/province.md.

-- ---------------------------------------------------------------------------
-- Facility ids from codes: 2-digit province * 36^3 + the last 3 characters
-- read in base 36. '19010' -> 19 * 46656 + 36 = 886500. At most 4,665,599,
-- so node ranges (number * 10^9) stay below 2^53 and ids survive JSON
-- numbers in browsers.

CREATE FUNCTION core.facility_number(code text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT substr(code, 1, 2)::bigint * 46656
         + (position(substr(code, 3, 1) IN '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ') - 1) * 1296
         + (position(substr(code, 4, 1) IN '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ') - 1) * 36
         + (position(substr(code, 5, 1) IN '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ') - 1)
$$;

-- Facilities registered from now on get the id of their code, whatever the
-- insert says. Facilities that exist already keep theirs: their ids are
-- hashed into the audit chains. `his province add-district` refuses a
-- district whose facility ids differ from the province's.
CREATE FUNCTION core.facility_id_from_code() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.id := core.facility_number(NEW.code);
    RETURN NEW;
END
$$;
CREATE TRIGGER facilities_id_from_code BEFORE INSERT ON core.facilities
    FOR EACH ROW EXECUTE FUNCTION core.facility_id_from_code();

-- ---------------------------------------------------------------------------
-- The node identity: the facility code of the hospital this server belongs
-- to. One row, set once, before any clinical data is recorded.

CREATE TABLE core.node (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    code        char(5) NOT NULL CHECK (code ~ '^[0-9]{2}[0-9A-Z]{3}$'),
    number      bigint NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON core.node TO his_app;

CREATE FUNCTION core.node_range_size() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 1000000000::bigint $$;

-- ---------------------------------------------------------------------------
-- What is published. The registry is the source of truth: a later migration
-- that adds a clinical table inserts its name here, and the migration runner
-- (core/migrate.c, after each migration, in its transaction) calls
-- core.publication_sync(), which adds every listed table that exists to the
-- publication, grants the replication role SELECT on it, and moves its id
-- sequences into the node's range. Names of tables that do not exist yet
-- are allowed (they are published when their migration runs).

CREATE TABLE core.replicated_tables (
    table_name  text PRIMARY KEY CHECK (table_name ~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$'),
    note        text
);
INSERT INTO core.replicated_tables (table_name, note) VALUES
    ('clinical.patients', NULL),
    ('clinical.patient_merges', NULL),
    ('clinical.households', NULL),
    ('clinical.household_members', NULL),
    ('clinical.visits', NULL),
    ('clinical.visit_diagnoses', NULL),
    ('clinical.visit_services', 'services ordered and their results'),
    ('clinical.visit_versions', NULL),
    ('clinical.health_records', NULL),
    ('clinical.health_record_versions', NULL),
    ('clinical.referrals', NULL),
    ('clinical.referral_results', NULL),
    ('pharmacy.prescriptions', NULL),
    ('pharmacy.prescription_items', NULL),
    ('pharmacy.dispensings', NULL),
    ('claims.batches', NULL),
    ('claims.batch_items', 'claims status per visit'),
    ('claims.submissions', NULL);

CREATE PUBLICATION his_district;

-- The province's subscriptions connect as this role: it may log in for
-- replication and read the published tables (and the node and facility
-- registers add-district checks), nothing else. BYPASSRLS because the
-- initial copy of a table is a SELECT and the tables' policies are written
-- for his_app only. Its password (or a certificate) is set when TCP is
-- enabled; through the unix socket the cluster's own rules apply.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'his_replication') THEN
        CREATE ROLE his_replication LOGIN REPLICATION BYPASSRLS;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'his_replication not created (needs a superuser): create it by hand, see docs/province.md';
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'his_replication') THEN
        GRANT USAGE ON SCHEMA core TO his_replication;
        GRANT SELECT ON core.node, core.facilities TO his_replication;
    END IF;
END
$$;

-- Moves every id sequence of a published table into the node's range when
-- it is below it (a new table's sequence starts at 1); refuses one that ran
-- past the range's end. Without a node identity nothing moves (a single
-- server needs none).
CREATE FUNCTION core.node_apply_ranges() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    nd bigint;
    lo bigint;
    hi bigint;
    s record;
    cur bigint;
    moved int := 0;
BEGIN
    SELECT number INTO nd FROM core.node;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    lo := nd * core.node_range_size();
    hi := lo + core.node_range_size() - 1;
    FOR s IN
        SELECT DISTINCT d.objid::regclass AS seq, sq.seqtypid
        FROM pg_publication p
        JOIN pg_publication_rel pr ON pr.prpubid = p.oid
        JOIN pg_depend d ON d.refobjid = pr.prrelid AND d.refclassid = 'pg_class'::regclass
                        AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        JOIN pg_sequence sq ON sq.seqrelid = d.objid
        WHERE p.pubname = 'his_district'
    LOOP
        IF s.seqtypid <> 'int8'::regtype THEN
            RAISE EXCEPTION 'sequence % of a published table is not bigint: it cannot hold node ranges', s.seq;
        END IF;
        EXECUTE format('SELECT last_value FROM %s', s.seq) INTO cur;
        IF cur < lo THEN
            PERFORM setval(s.seq, lo, false);
            moved := moved + 1;
        ELSIF cur > hi THEN
            RAISE EXCEPTION 'sequence % is past the end of node % range (%)', s.seq, nd, hi;
        END IF;
    END LOOP;
    RETURN moved;
END
$$;

CREATE FUNCTION core.publication_sync() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    t record;
    added int := 0;
    has_role boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'his_replication');
BEGIN
    FOR t IN
        SELECT r.table_name, c.oid AS rel, n.nspname
        FROM core.replicated_tables r
        JOIN pg_class c ON c.oid = to_regclass(r.table_name)
        JOIN pg_namespace n ON n.oid = c.relnamespace
        ORDER BY r.table_name
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
                       WHERE p.pubname = 'his_district' AND pr.prrelid = t.rel) THEN
            -- Updates and deletes are replicated by primary key, and the
            -- first key column tells a row's node (remove-district).
            IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
                                                          AND a.attnum = i.indkey[0]
                           WHERE i.indrelid = t.rel AND i.indisprimary AND a.atttypid = 'int8'::regtype) THEN
                RAISE EXCEPTION 'table % cannot be published: it needs a primary key whose first column is a bigint id',
                    t.table_name;
            END IF;
            EXECUTE format('ALTER PUBLICATION his_district ADD TABLE %s', t.rel::regclass);
            added := added + 1;
        END IF;
        IF has_role THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO his_replication', t.nspname);
            EXECUTE format('GRANT SELECT ON %s TO his_replication', t.rel::regclass);
        END IF;
    END LOOP;
    PERFORM core.node_apply_ranges();
    RETURN added;
END
$$;

-- Sets the node identity once. Refused when a published table already holds
-- rows outside the new range: those ids would collide at the province.
CREATE FUNCTION core.node_set(node_code text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    cur text;
    nd bigint;
    lo bigint;
    t record;
    bad boolean;
BEGIN
    IF node_code !~ '^[0-9]{2}[0-9A-Z]{3}$' THEN
        RAISE EXCEPTION 'node code must be a facility code (5 characters)' USING ERRCODE = 'check_violation';
    END IF;
    SELECT code INTO cur FROM core.node;
    IF FOUND THEN
        IF cur = node_code THEN
            RETURN (SELECT number FROM core.node);
        END IF;
        RAISE EXCEPTION 'this server is node % already; a node identity does not change', cur
            USING ERRCODE = 'check_violation';
    END IF;
    nd := core.facility_number(node_code);
    lo := nd * core.node_range_size();
    FOR t IN
        SELECT pr.prrelid::regclass AS rel, a.attname
        FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
        JOIN pg_index i ON i.indrelid = pr.prrelid AND i.indisprimary
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE p.pubname = 'his_district'
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I < $1 OR %I >= $2)', t.rel, t.attname, t.attname)
            INTO bad USING lo, lo + core.node_range_size();
        IF bad THEN
            RAISE EXCEPTION 'table % holds rows numbered outside node % range: set the node before recording data',
                t.rel, node_code USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
    INSERT INTO core.node (code, number) VALUES (node_code, nd);
    PERFORM core.node_apply_ranges();
    RETURN nd;
END
$$;

-- ---------------------------------------------------------------------------
-- One person recorded at several facilities (each district keeps its own
-- row): linked by CCCD or insurance card number, never merged. Links inside
-- one facility are duplicates, the merge feature's business. The owner's
-- view (no grant to his_app: it would bypass row-level security); the
-- server reads it through clinical.shared_sources.
CREATE VIEW clinical.person_links AS
SELECT a.id AS patient_id, a.facility_id, b.id AS linked_patient_id, b.facility_id AS linked_facility_id,
       CASE WHEN a.cccd = b.cccd THEN 'cccd' ELSE 'card' END AS linked_by
FROM clinical.patients a
JOIN clinical.patients b ON b.facility_id <> a.facility_id AND b.merged_into IS NULL
                        AND (b.cccd = a.cccd OR b.card_number = a.card_number)
WHERE a.merged_into IS NULL;

-- ---------------------------------------------------------------------------
-- Reading another facility's records (point 2). Allowed for the reader's
-- facility (his.facility_id) only when the patient
--   * was referred to it: a referral letter of the patient's facility with
--     to_facility = the reader's code (clinical.referrals, replicated), a
--     visit closed with referral_to = the reader's code, or an incoming
--     referral at the reader's facility from that facility for a linked
--     patient; or
--   * has an emergency visit at the reader's facility (a linked patient,
--     received in the last 30 days).
-- Returns the reason ('referral' | 'emergency') or NULL.
CREATE FUNCTION clinical.shared_access_reason(p bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    rd bigint := nullif(current_setting('his.facility_id', true), '')::bigint;
    rc text;
    pf bigint;
    pfc text;
BEGIN
    IF rd IS NULL OR p IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT code INTO rc FROM core.facilities WHERE id = rd;
    SELECT pt.facility_id, f.code INTO pf, pfc
    FROM clinical.patients pt JOIN core.facilities f ON f.id = pt.facility_id WHERE pt.id = p;
    IF pf IS NULL OR pf = rd THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM clinical.visits v WHERE v.patient_id = p AND v.referral_to = rc) THEN
        RETURN 'referral';
    END IF;
    IF to_regclass('clinical.referrals') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM clinical.referrals r
                   WHERE r.patient_id = p AND r.direction = 'out' AND r.to_facility = rc) THEN
            RETURN 'referral';
        END IF;
        IF EXISTS (SELECT 1 FROM clinical.person_links l
                   JOIN clinical.referrals r ON r.patient_id = l.linked_patient_id
                   WHERE l.patient_id = p AND l.linked_facility_id = rd AND r.facility_id = rd
                     AND r.direction = 'in' AND r.from_facility = pfc) THEN
            RETURN 'referral';
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM clinical.person_links l
               JOIN clinical.visits v ON v.patient_id = l.linked_patient_id
               WHERE l.patient_id = p AND l.linked_facility_id = rd AND v.facility_id = rd
                 AND v.kind = 'emergency' AND v.received_at > now() - interval '30 days') THEN
        RETURN 'emergency';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION clinical.shared_access_visit(vid bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT clinical.shared_access_reason((SELECT patient_id FROM clinical.visits WHERE id = vid)) IS NOT NULL
$$;

-- The patients of other facilities that a patient of the reader's facility
-- is linked to, each with the reason it may be read (NULL: it may not).
-- Also the patient itself when it belongs elsewhere and may be read.
CREATE FUNCTION clinical.shared_sources(p bigint)
RETURNS TABLE (patient_id bigint, facility_id bigint, facility_code text, facility_name text, linked_by text,
               reason text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT l.linked_patient_id, l.linked_facility_id, f.code::text, f.name, l.linked_by,
           clinical.shared_access_reason(l.linked_patient_id)
    FROM clinical.person_links l JOIN core.facilities f ON f.id = l.linked_facility_id
    WHERE l.patient_id = p AND l.facility_id = nullif(current_setting('his.facility_id', true), '')::bigint
    UNION ALL
    SELECT pt.id, pt.facility_id, f.code::text, f.name, 'id', clinical.shared_access_reason(pt.id)
    FROM clinical.patients pt JOIN core.facilities f ON f.id = pt.facility_id
    WHERE pt.id = p AND pt.facility_id <> nullif(current_setting('his.facility_id', true), '')::bigint
      AND clinical.shared_access_reason(pt.id) IS NOT NULL
$$;
GRANT EXECUTE ON FUNCTION clinical.shared_sources(bigint) TO his_app;

-- The policies. They are for the role his_shared only, never for his_app:
-- a policy OR-ed into his_app's scope would stop the facility_id indexes
-- serving every ordinary query. GET /patients/{id}/shared-history switches
-- to it for one transaction (SET LOCAL ROLE his_shared), reads, and audits
-- each source with its reason. Under his_shared a row is visible only when
-- its patient has a grant for the reader's facility; SELECT only, so
-- nothing of another facility can be written.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'his_shared') THEN
        CREATE ROLE his_shared NOLOGIN;
    END IF;
END
$$;
GRANT his_shared TO CURRENT_USER;
GRANT USAGE ON SCHEMA core, clinical, catalog TO his_shared;
GRANT SELECT ON core.facilities TO his_shared;
GRANT SELECT ON clinical.patients, clinical.visits, clinical.visit_diagnoses, clinical.visit_services TO his_shared;
GRANT EXECUTE ON FUNCTION clinical.shared_sources(bigint) TO his_shared;

CREATE POLICY patients_shared ON clinical.patients FOR SELECT TO his_shared
    USING (clinical.shared_access_reason(id) IS NOT NULL);
CREATE POLICY visits_shared ON clinical.visits FOR SELECT TO his_shared
    USING (clinical.shared_access_reason(patient_id) IS NOT NULL);
CREATE POLICY visit_diagnoses_shared ON clinical.visit_diagnoses FOR SELECT TO his_shared
    USING (clinical.shared_access_visit(visit_id));
CREATE POLICY visit_services_shared ON clinical.visit_services FOR SELECT TO his_shared
    USING (clinical.shared_access_visit(visit_id));

DO $$
BEGIN
    IF to_regclass('pharmacy.prescriptions') IS NOT NULL THEN
        EXECUTE $p$
            CREATE FUNCTION pharmacy.shared_access_prescription(rx bigint) RETURNS boolean
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $f$
                SELECT clinical.shared_access_reason((SELECT patient_id FROM pharmacy.prescriptions WHERE id = rx))
                       IS NOT NULL
            $f$;
            GRANT USAGE ON SCHEMA pharmacy TO his_shared;
            GRANT SELECT ON pharmacy.prescriptions, pharmacy.prescription_items TO his_shared;
            CREATE POLICY prescriptions_shared ON pharmacy.prescriptions FOR SELECT TO his_shared
                USING (clinical.shared_access_reason(patient_id) IS NOT NULL);
            CREATE POLICY prescription_items_shared ON pharmacy.prescription_items FOR SELECT TO his_shared
                USING (pharmacy.shared_access_prescription(prescription_id));
        $p$;
    END IF;
END
$$;
