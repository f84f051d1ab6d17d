-- HL7 v2 engine (issue 3 points 5-9): inbound messages as received, the
-- peers we send to, links between a sender's visit numbers and our visits,
-- and referrals (giấy chuyển tuyến, XML13) with the results that come back.
-- Outbound messages are rows of core.outbox (target 'hl7:<facility code>').
-- See docs/hl7-engine.md.

CREATE SCHEMA hl7;
GRANT USAGE ON SCHEMA hl7 TO his_app;

-- Where each peer facility listens. Server-wide configuration (no patient
-- data): read by the delivery workers, managed by `his hl7 peer add` or
-- POST /api/v1/hl7/peers (admin).
CREATE TABLE hl7.peers (
    facility_code char(5) PRIMARY KEY CHECK (facility_code ~ '^[0-9]{2}[0-9A-Z]{3}$'),
    host          text NOT NULL CHECK (host ~ '^[A-Za-z0-9.:_-]{1,253}$'),
    port          int NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls           boolean NOT NULL DEFAULT false,
    -- Event groups besides referrals and results (always sent to the other
    -- end of a referral): 'adt' = patient registered/updated, admission,
    -- discharge of every patient of this server.
    events        text[] NOT NULL DEFAULT '{}' CHECK (events <@ ARRAY['adt']::text[]),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON hl7.peers TO his_app;

-- Every inbound message as it came off the wire (bytes: an 8859/1 message
-- is kept as sent), with the ACK we answered. The row is committed before
-- the ACK leaves, and a second copy (same receiving facility, sending
-- facility MSH-4 and MSH-10) gets the stored ACK again and no second effect.
-- facility_id is the receiving facility (MSH-6); 0 when MSH-6 names none of
-- ours (those are refused with AR and visible to the owner only).
CREATE TABLE hl7.messages (
    id            bigserial PRIMARY KEY,
    facility_id   bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint,
    sender        text NOT NULL CHECK (length(sender) <= 200),         -- MSH-4-1
    control_id    text NOT NULL CHECK (length(control_id) <= 200),     -- MSH-10
    message_type  text NOT NULL DEFAULT '' CHECK (length(message_type) <= 30),  -- MSH-9 "ADT^A04"
    raw           bytea NOT NULL,
    ack           bytea NOT NULL,
    ack_code      text NOT NULL CHECK (ack_code IN ('AA', 'AE', 'AR', 'CA', 'CE', 'CR')),
    -- received: stored and acknowledged, waiting for the processor;
    -- processed: applied to patients/visits/referrals; error: refused at
    -- receipt (AE/AR) or failed in processing (error says why).
    state         text NOT NULL CHECK (state IN ('received', 'processed', 'error')),
    error         text CHECK (length(error) <= 2000),
    patient_id    bigint,
    peer_cn       text CHECK (length(peer_cn) <= 200),                 -- TLS client certificate subject CN
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    UNIQUE (facility_id, sender, control_id)
);
CREATE INDEX messages_pending ON hl7.messages (id) WHERE state = 'received';
CREATE INDEX messages_facility ON hl7.messages (facility_id, state, id);
ALTER TABLE hl7.messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_scope ON hl7.messages TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE (state, error, patient_id, processed_at) ON hl7.messages TO his_app;
GRANT USAGE ON SEQUENCE hl7.messages_id_seq TO his_app;

-- A sender's visit number (PV1-19) -> our visit, so that A03 finds the visit
-- A01 opened.
CREATE TABLE hl7.visit_links (
    facility_id   bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                  REFERENCES core.facilities (id),
    sender        text NOT NULL CHECK (length(sender) <= 200),
    visit_number  text NOT NULL CHECK (length(visit_number) <= 100),
    visit_id      bigint NOT NULL REFERENCES clinical.visits (id),
    PRIMARY KEY (facility_id, sender, visit_number)
);
ALTER TABLE hl7.visit_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_links_scope ON hl7.visit_links TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON hl7.visit_links TO his_app;

-- ---------------------------------------------------------------------------
-- Referrals: the referral letter (giấy chuyển tuyến, XML13
-- CHI_TIEU_GIAYCHUYENTUYEN). direction 'out': written here, sent as REF^I12;
-- 'in': received as REF^I12 from the referring facility. The code is the
-- referral paper number (GIAY_CHUYEN_TUYEN) of the referring facility, the
-- same on both sides.
CREATE SEQUENCE clinical.referral_code_seq;

CREATE TABLE clinical.referrals (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    direction       text NOT NULL CHECK (direction IN ('out', 'in')),
    code            text NOT NULL CHECK (code ~ '^[0-9A-Za-z._/-]{1,50}$'),        -- GIAY_CHUYEN_TUYEN
    from_facility   char(5) NOT NULL CHECK (from_facility ~ '^[0-9]{2}[0-9A-Z]{3}$'),  -- MA_NOI_DI
    to_facility     char(5) NOT NULL CHECK (to_facility ~ '^[0-9]{2}[0-9A-Z]{3}$'),    -- MA_NOI_DEN
    patient_id      bigint NOT NULL REFERENCES clinical.patients (id),
    visit_id        bigint REFERENCES clinical.visits (id),
    reason_code     smallint CHECK (reason_code BETWEEN 1 AND 3),                   -- MA_LYDO_CT
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    diagnosis_icd10 text NOT NULL CHECK (diagnosis_icd10 ~ '^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$'),  -- MA_BENH_CHINH
    diagnosis_text  text CHECK (length(diagnosis_text) <= 1000),                    -- CHAN_DOAN_RV
    clinical_signs  text CHECK (length(clinical_signs) <= 4000),                    -- DAU_HIEU_LS
    treatment_given text CHECK (length(treatment_given) <= 4000),                   -- PP_DIEUTRI / QT_BENHLY
    transport       text CHECK (length(transport) <= 255),                          -- PHUONGTIEN_VC
    doctor_name     text CHECK (length(doctor_name) <= 255),
    doctor_code     text CHECK (length(doctor_code) <= 255),                        -- MA_BAC_SI
    state           text NOT NULL CHECK (state IN ('sent', 'received', 'accepted', 'rejected')),
    answer_note     text CHECK (length(answer_note) <= 2000),
    answered_at     timestamptz,
    answered_by     text CHECK (length(answered_by) <= 255),
    remote_id       text CHECK (length(remote_id) <= 100),                          -- the other side's id
    -- MSH-10 of the REF^I12 (sent or received) and of our RRI^I12 answer:
    -- the outbox key of what we sent, so its delivery state can be shown.
    hl7_control_id  text CHECK (length(hl7_control_id) <= 200),
    answer_control_id text CHECK (length(answer_control_id) <= 200),
    created_by      bigint REFERENCES core.users (id),
    version         int NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, direction, from_facility, code)
);
CREATE INDEX referrals_list ON clinical.referrals (facility_id, direction, id DESC);
CREATE INDEX referrals_patient ON clinical.referrals (patient_id);
ALTER TABLE clinical.referrals ENABLE ROW LEVEL SECURITY;
CREATE POLICY referrals_scope ON clinical.referrals TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON clinical.referrals TO his_app;
GRANT USAGE ON SEQUENCE clinical.referrals_id_seq, clinical.referral_code_seq TO his_app;

-- Results (OBX of ORU^R01) attached to a referral: received ('in') from the
-- facility the patient was referred to, or sent ('out') by us.
CREATE TABLE clinical.referral_results (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    referral_id     bigint NOT NULL REFERENCES clinical.referrals (id),
    patient_id      bigint NOT NULL REFERENCES clinical.patients (id),
    direction       text NOT NULL CHECK (direction IN ('out', 'in')),
    seq             int NOT NULL CHECK (seq BETWEEN 1 AND 1000),
    code            text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),      -- OBX-3-1
    name            text CHECK (length(name) <= 300),                          -- OBX-3-2
    value_type      text NOT NULL DEFAULT 'ST' CHECK (value_type ~ '^[A-Z]{2,3}$'),
    value           text CHECK (length(value) <= 4000),                        -- OBX-5
    unit            text CHECK (length(unit) <= 50),                           -- OBX-6
    reference_range text CHECK (length(reference_range) <= 100),               -- OBX-7
    flag            text CHECK (length(flag) <= 10),                           -- OBX-8
    status          text NOT NULL DEFAULT 'F' CHECK (status ~ '^[A-Z]$'),      -- OBX-11
    observed_at     timestamptz,                                               -- OBX-14
    message_control_id text CHECK (length(message_control_id) <= 200),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_results_referral ON clinical.referral_results (referral_id, id);
ALTER TABLE clinical.referral_results ENABLE ROW LEVEL SECURITY;
CREATE POLICY referral_results_scope ON clinical.referral_results TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON clinical.referral_results TO his_app;
GRANT USAGE ON SEQUENCE clinical.referral_results_id_seq TO his_app;

-- ---------------------------------------------------------------------------
-- ADT events of patients and visits written by any module (patients.c,
-- visits.c, imports) become outbox rows for the peers subscribed to 'adt',
-- in the same transaction as the change. The payload is a JSON snapshot of
-- the rows; the delivery worker turns it into ER7 (his/hl7_outbound.c) with
-- MSH-10 = the row's dedupe key, so a resend is the same message.
-- Changes made by the HL7 processor itself set his.hl7_inbound and are not
-- echoed back (two peers subscribed to each other would ping-pong).
CREATE FUNCTION hl7.adt_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    ev text;
    pat jsonb;
    vis jsonb := NULL;
    fac text;
    peer record;
    key text;
BEGIN
    IF coalesce(current_setting('his.hl7_inbound', true), '') = '1' THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hl7.peers WHERE 'adt' = ANY (events)) THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'patients' THEN
        IF TG_OP = 'INSERT' THEN ev := 'A04';
        ELSIF NEW.merged_into IS NOT NULL THEN RETURN NULL;
        ELSIF to_jsonb(NEW) - '{version,updated_at}'::text[] = to_jsonb(OLD) - '{version,updated_at}'::text[] THEN
            RETURN NULL;
        ELSE ev := 'A08';
        END IF;
        pat := to_jsonb(NEW);
    ELSE
        IF TG_OP = 'INSERT' AND NEW.kind = 'inpatient' THEN ev := 'A01';
        ELSIF TG_OP = 'UPDATE' AND OLD.discharged_at IS NULL AND NEW.discharged_at IS NOT NULL THEN ev := 'A03';
        ELSE RETURN NULL;
        END IF;
        vis := jsonb_build_object('ma_lk', NEW.ma_lk, 'kind', NEW.kind, 'received_at', NEW.received_at,
                                  'admitted_at', NEW.admitted_at, 'discharged_at', NEW.discharged_at);
        SELECT to_jsonb(p) INTO pat FROM clinical.patients p WHERE p.id = NEW.patient_id;
    END IF;
    SELECT code INTO fac FROM core.facilities WHERE id = NEW.facility_id;
    FOR peer IN SELECT facility_code FROM hl7.peers WHERE 'adt' = ANY (events) AND facility_code <> fac LOOP
        key := fac || 'E' || nextval('hl7.event_seq');
        INSERT INTO core.outbox (facility_id, target, kind, dedupe_key, partition_key, payload)
        VALUES (NEW.facility_id, 'hl7:' || peer.facility_code, 'ADT^' || ev, key, 'hl7:' || peer.facility_code,
                jsonb_build_object('event', ev, 'control_id', key, 'from', fac, 'to', peer.facility_code,
                                   'at', to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYYMMDDHH24MISS'),
                                   'patient', pat, 'visit', vis)::text);
    END LOOP;
    RETURN NULL;
END
$$;
-- MSH-10 of the messages we send: facility code + 'M' (or 'E' for events) + this.
CREATE SEQUENCE hl7.event_seq;
GRANT USAGE ON SEQUENCE hl7.event_seq TO his_app;
CREATE TRIGGER patients_hl7_adt AFTER INSERT OR UPDATE ON clinical.patients
    FOR EACH ROW EXECUTE FUNCTION hl7.adt_event();
CREATE TRIGGER visits_hl7_adt AFTER INSERT OR UPDATE ON clinical.visits
    FOR EACH ROW EXECUTE FUNCTION hl7.adt_event();
