-- Health-insurance claims (issue 6, claims/): monthly batches of the
-- QĐ 130/4750 tables per closed insured visit, each visit's validation
-- result and amounts by payer, its submissions to the assessment portal
-- (through core.outbox) with the portal's transaction code and rejection
-- codes, and the facility's signing key. See docs/claims.md.

CREATE SCHEMA claims;
GRANT USAGE ON SCHEMA claims TO his_app;

-- The facility's signing key and certificate (made on first use, or loaded
-- from HIS_CLAIMS_KEY_FILE/HIS_CLAIMS_CERT_FILE). Owner only: his_app has no
-- grant, the server reads it through the owner connection.
CREATE TABLE claims.signing_keys (
    facility_id     bigint PRIMARY KEY REFERENCES core.facilities (id),
    key_pem         text NOT NULL,
    cert_pem        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Per-facility claim settings the clinical data does not hold.
CREATE TABLE claims.facility_settings (
    facility_id     bigint PRIMARY KEY REFERENCES core.facilities (id),
    head_id         text CHECK (head_id ~ '^[0-9]{10}$'),  -- MA_TTDV: BHXH number of the signing head
    updated_at      timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON claims.facility_settings TO his_app;

CREATE TABLE claims.batches (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    month           date NOT NULL CHECK (extract(day FROM month) = 1),  -- the settlement month
    version         int NOT NULL DEFAULT 1,                           -- bumped by each rebuild
    created_by      bigint REFERENCES core.users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    built_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, month)
);
ALTER TABLE claims.batches ENABLE ROW LEVEL SECURITY;
CREATE POLICY batches_scope ON claims.batches TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON claims.batches TO his_app;
GRANT USAGE ON SEQUENCE claims.batches_id_seq TO his_app;

-- One row per visit of a batch. state: ready (valid, not sent), invalid
-- (issues lists visit/table/field/rule), sent (queued or in flight to the
-- portal), accepted (the portal's transaction code kept), rejected (the
-- portal's codes kept; fix the visit, rebuild, submit again).
CREATE TABLE claims.batch_items (
    id              bigserial PRIMARY KEY,
    batch_id        bigint NOT NULL REFERENCES claims.batches (id) ON DELETE CASCADE,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    visit_id        bigint NOT NULL REFERENCES clinical.visits (id),
    patient_id      bigint NOT NULL REFERENCES clinical.patients (id),
    ma_lk           text NOT NULL,
    visit_revision  int NOT NULL,
    state           text NOT NULL CHECK (state IN ('ready', 'invalid', 'sent', 'accepted', 'rejected')),
    issues          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(issues) = 'array'),
    muc_huong       text,
    muc_huong_rule  text,
    t_tongchi_bv    numeric(15,2) NOT NULL DEFAULT 0,
    t_tongchi_bh    numeric(15,2) NOT NULL DEFAULT 0,
    t_bhtt          numeric(15,2) NOT NULL DEFAULT 0,   -- insurer
    t_bncct         numeric(15,2) NOT NULL DEFAULT 0,   -- patient co-payment
    t_bntt          numeric(15,2) NOT NULL DEFAULT 0,   -- patient, out of scope
    t_nguonkhac     numeric(15,2) NOT NULL DEFAULT 0,   -- other funding
    tables          jsonb NOT NULL DEFAULT '{}',        -- {"XML1": "<?xml ...", ...} as built
    content_sha256  text NOT NULL,                       -- of the tables: what a submission carries
    submissions     int NOT NULL DEFAULT 0,
    transaction_code text CHECK (length(transaction_code) <= 200),  -- maGiaoDich of the last answer
    rejection       jsonb,                                -- {code, message, errors: [...]} of the last refusal
    sent_at         timestamptz,
    answered_at     timestamptz,
    built_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (batch_id, visit_id)
);
CREATE INDEX batch_items_batch ON claims.batch_items (batch_id, state, id);
CREATE INDEX batch_items_visit ON claims.batch_items (visit_id);
ALTER TABLE claims.batch_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY batch_items_scope ON claims.batch_items TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON claims.batch_items TO his_app;
GRANT USAGE ON SEQUENCE claims.batch_items_id_seq TO his_app;

-- Every submission of a visit's claim, never updated but for its answer:
-- the outbox key is claims:<ma_lk>:<content sha256>, so the same content
-- is never queued twice and a corrected one is a new submission.
CREATE TABLE claims.submissions (
    id              bigserial PRIMARY KEY,
    item_id         bigint NOT NULL REFERENCES claims.batch_items (id) ON DELETE CASCADE,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    ma_lk           text NOT NULL,
    content_sha256  text NOT NULL,
    outbox_key      text NOT NULL UNIQUE,
    state           text NOT NULL DEFAULT 'sent' CHECK (state IN ('sent', 'accepted', 'rejected')),
    transaction_code text,
    result_code     text,
    answer          jsonb,
    created_by      bigint REFERENCES core.users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    answered_at     timestamptz
);
CREATE INDEX submissions_item ON claims.submissions (item_id, id);
ALTER TABLE claims.submissions ENABLE ROW LEVEL SECURITY;
CREATE POLICY submissions_scope ON claims.submissions TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON claims.submissions TO his_app;
GRANT USAGE ON SEQUENCE claims.submissions_id_seq TO his_app;

-- Insurer prices (DON_GIA_BH) and payment ratios in force by date, for
-- services and supplies: the claim takes the row in force on the day the
-- item was ordered; without one, the price charged is the insurer's too.
CREATE TABLE claims.prices (
    id              bigserial PRIMARY KEY,
    item_kind       text NOT NULL CHECK (item_kind IN ('service', 'supply')),
    code            text NOT NULL CHECK (length(code) BETWEEN 1 AND 50),
    valid_from      date NOT NULL,
    valid_to        date,
    price           numeric(15,3) NOT NULL CHECK (price >= 0),
    ratio           smallint NOT NULL DEFAULT 100 CHECK (ratio BETWEEN 0 AND 100),  -- TYLE_TT_BH
    in_list         boolean NOT NULL DEFAULT true,                                 -- PHAM_VI 1 or 2
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    UNIQUE (item_kind, code, valid_from)
);
GRANT SELECT ON claims.prices TO PUBLIC;
