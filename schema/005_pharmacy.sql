-- Pharmacy (issue 5): the drug catalogue, e-prescriptions, dispensing from
-- stock lots, stock receipts and adjustments, the facility signing keys and
-- the national portals' accounts. See docs/pharmacy.md.

CREATE SCHEMA pharmacy;
GRANT USAGE ON SCHEMA pharmacy TO his_app;

-- ---------------------------------------------------------------------------
-- Drug catalogue: no patient data, readable by everyone, written by the
-- owner (`his seed demo` loads schema/data/drugs_demo.csv, `his rx
-- load-drugs FILE` a full list in the same layout).
CREATE TABLE catalog.drugs (
    code            text PRIMARY KEY CHECK (code ~ '^[0-9A-Za-z._-]{1,50}$'),
    ingredient_code text NOT NULL CHECK (length(ingredient_code) BETWEEN 1 AND 50),  -- MA_THUOC (XML2)
    ingredient      text NOT NULL CHECK (length(ingredient) BETWEEN 1 AND 300),     -- INN
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),           -- TEN_THUOC
    name_fold       text NOT NULL CHECK (length(name_fold) <= 1000),  -- text_fold(name | ingredient), in C
    strength        text NOT NULL DEFAULT '' CHECK (length(strength) <= 100),       -- HAM_LUONG
    dosage_form     text NOT NULL DEFAULT '' CHECK (length(dosage_form) <= 100),    -- DANG_BAO_CHE
    unit            text NOT NULL CHECK (length(unit) BETWEEN 1 AND 50),            -- DON_VI_TINH
    route           text NOT NULL DEFAULT '' CHECK (length(route) <= 50),           -- DUONG_DUNG
    -- The prescription class decides the prescription type: narcotic -> N,
    -- psychotropic (and precursor) -> H, other -> C, herbal (decoction) -> T.
    rx_class        text NOT NULL CHECK (rx_class IN ('narcotic', 'psychotropic', 'other', 'herbal')),
    insurance_price numeric(15,3) NOT NULL DEFAULT 0 CHECK (insurance_price >= 0),
    registration_no text CHECK (length(registration_no) <= 50),                     -- SO_DANG_KY
    valid           boolean NOT NULL DEFAULT true,
    source          text NOT NULL DEFAULT 'demo' CHECK (length(source) <= 100),
    loaded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX drugs_name_trgm ON catalog.drugs USING gin (name_fold gin_trgm_ops);
GRANT SELECT ON catalog.drugs TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Facility signing keys (Ed25519), made on first use by the server through
-- the owner connection. The private key is readable only by the owner (not
-- by his_app): a handler can have a prescription signed, never read the key.
CREATE TABLE pharmacy.facility_keys (
    facility_id     bigint PRIMARY KEY REFERENCES core.facilities (id),
    algorithm       text NOT NULL DEFAULT 'ed25519' CHECK (algorithm = 'ed25519'),
    public_key      text NOT NULL,      -- PEM (SubjectPublicKeyInfo)
    private_key     text NOT NULL,      -- PEM (PKCS#8)
    created_at      timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT (facility_id, algorithm, public_key, created_at) ON pharmacy.facility_keys TO his_app;

-- Accounts on the national portals, per facility and (for the prescription
-- portal's doctor login) per doctor. Secrets: owner only, read by the
-- delivery workers.
CREATE TABLE pharmacy.portal_accounts (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL REFERENCES core.facilities (id),
    user_id         bigint REFERENCES core.users (id),
    -- prescription: doctor login (login = ma_lien_thong_bac_si);
    -- pharmacy: Cục QLD login (usr/pwd); rx-lookup: app-name/app-key
    portal          text NOT NULL CHECK (portal IN ('prescription', 'pharmacy', 'rx-lookup')),
    login           text NOT NULL CHECK (length(login) BETWEEN 1 AND 100),
    facility_link   text CHECK (length(facility_link) <= 100),  -- ma_lien_thong_co_so_kham_chua_benh
    secret          text NOT NULL CHECK (length(secret) BETWEEN 1 AND 200)
);
CREATE UNIQUE INDEX portal_accounts_one ON pharmacy.portal_accounts (portal, facility_id, coalesce(user_id, 0));

-- ---------------------------------------------------------------------------
-- Prescriptions. origin 'local': issued here inside a visit (signed, pushed
-- to the national portal); origin 'portal': another facility's prescription
-- fetched from the portal by a pharmacist here, kept to track what was
-- dispensed against it. The patient is snapshotted: the prescription says
-- what it said when signed, whatever later happens to the patient record.
CREATE TABLE pharmacy.prescriptions (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    code            text NOT NULL CHECK (code ~ '^[0-9A-Za-z]{5}[0-9a-z]{7}-[NHCT]$'),
    type            char(1) NOT NULL CHECK (type IN ('N', 'H', 'C', 'T')),
    origin          text NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'portal')),
    issuer_facility_code text NOT NULL CHECK (length(issuer_facility_code) = 5),
    visit_id        bigint REFERENCES clinical.visits (id),
    patient_id      bigint REFERENCES clinical.patients (id),
    patient_name    text NOT NULL CHECK (length(patient_name) BETWEEN 1 AND 200),
    patient_birth   text CHECK (length(patient_birth) <= 10),       -- dd/MM/yyyy as the portal has it
    patient_sex     text NOT NULL DEFAULT 'unknown' CHECK (patient_sex IN ('male', 'female', 'unknown')),
    patient_cccd    text CHECK (length(patient_cccd) <= 12),
    card_number     text CHECK (length(card_number) <= 15),
    patient_address text CHECK (length(patient_address) <= 500),
    weight_kg       numeric(5,2),
    diagnoses       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(diagnoses) = 'array'),
    chronic         boolean NOT NULL DEFAULT false,   -- a listed chronic disease allowed the longer limit
    advice          text CHECK (length(advice) <= 2000),                -- loi_dan
    doctor_id       bigint REFERENCES core.users (id),
    doctor_name     text CHECK (length(doctor_name) <= 200),
    issued_at       timestamptz NOT NULL DEFAULT now(),
    valid_until     date NOT NULL,                    -- last day it may be filled
    state           text NOT NULL DEFAULT 'active'
                    CHECK (state IN ('active', 'partially_dispensed', 'dispensed', 'cancelled')),
    replaces_code   text,
    replaced_by_code text,
    cancelled_at    timestamptz,
    cancelled_by    bigint REFERENCES core.users (id),
    cancel_reason   text CHECK (length(cancel_reason) <= 500),
    signature       text,                             -- base64 Ed25519 over the canonical form
    version         int NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, code),
    CHECK (origin = 'portal' OR visit_id IS NOT NULL)
);
CREATE INDEX prescriptions_visit ON pharmacy.prescriptions (visit_id);
CREATE INDEX prescriptions_patient ON pharmacy.prescriptions (patient_id, issued_at DESC);
CREATE INDEX prescriptions_facility_issued ON pharmacy.prescriptions (facility_id, issued_at);
ALTER TABLE pharmacy.prescriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY prescriptions_scope ON pharmacy.prescriptions TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON pharmacy.prescriptions TO his_app;
GRANT USAGE ON SEQUENCE pharmacy.prescriptions_id_seq TO his_app;

CREATE TABLE pharmacy.prescription_items (
    prescription_id bigint NOT NULL REFERENCES pharmacy.prescriptions (id),
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    seq             smallint NOT NULL CHECK (seq BETWEEN 0 AND 99),
    drug_code       text NOT NULL CHECK (length(drug_code) BETWEEN 1 AND 50),
    drug_name       text NOT NULL CHECK (length(drug_name) BETWEEN 1 AND 300),
    quantity        int NOT NULL CHECK (quantity BETWEEN 1 AND 100000),
    unit            text NOT NULL CHECK (length(unit) BETWEEN 1 AND 50),
    dosage          text NOT NULL DEFAULT '' CHECK (length(dosage) <= 500),        -- cach_dung
    days            smallint NOT NULL CHECK (days BETWEEN 1 AND 90),
    dispensed       int NOT NULL DEFAULT 0 CHECK (dispensed >= 0 AND dispensed <= quantity),
    PRIMARY KEY (prescription_id, seq),
    UNIQUE (prescription_id, drug_code)
);
ALTER TABLE pharmacy.prescription_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY prescription_items_scope ON pharmacy.prescription_items TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON pharmacy.prescription_items TO his_app;

-- ---------------------------------------------------------------------------
-- Stock: lots per facility; every change is a movement (the ledger), the
-- lot's quantity is its running sum.
CREATE TABLE pharmacy.stock_lots (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    drug_code       text NOT NULL REFERENCES catalog.drugs (code),
    lot             text NOT NULL CHECK (lot ~ '^[0-9A-Za-z./_-]{1,50}$'),              -- so_lo
    expiry          date NOT NULL,                                                   -- han_dung
    quantity        int NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    unit_price      numeric(15,3) NOT NULL DEFAULT 0 CHECK (unit_price >= 0),
    received_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, drug_code, lot)
);
CREATE INDEX stock_lots_fefo ON pharmacy.stock_lots (facility_id, drug_code, expiry, id) WHERE quantity > 0;
ALTER TABLE pharmacy.stock_lots ENABLE ROW LEVEL SECURITY;
CREATE POLICY stock_lots_scope ON pharmacy.stock_lots TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON pharmacy.stock_lots TO his_app;
GRANT USAGE ON SEQUENCE pharmacy.stock_lots_id_seq TO his_app;

-- Goods receipts (phiếu nhập): kind 1 from a supplier, 2 customer return,
-- 3 opening stock, as the pharmacy portal codes loai_phieu_nhap.
CREATE TABLE pharmacy.receipts (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    kind            smallint NOT NULL DEFAULT 1 CHECK (kind IN (1, 2, 3)),
    supplier        text CHECK (length(supplier) <= 200),
    note            text CHECK (length(note) <= 500),
    created_by      bigint REFERENCES core.users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE pharmacy.receipts ENABLE ROW LEVEL SECURITY;
CREATE POLICY receipts_scope ON pharmacy.receipts TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON pharmacy.receipts TO his_app;
GRANT USAGE ON SEQUENCE pharmacy.receipts_id_seq TO his_app;

-- Dispensings (one sale or hand-out against a prescription) and their lines
-- (one per lot used).
CREATE TABLE pharmacy.dispensings (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    prescription_id bigint NOT NULL REFERENCES pharmacy.prescriptions (id),
    invoice_code    text NOT NULL CHECK (length(invoice_code) BETWEEN 1 AND 50),  -- ma_hoa_don
    dispensed_by    bigint REFERENCES core.users (id),
    dispensed_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, invoice_code)
);
CREATE INDEX dispensings_prescription ON pharmacy.dispensings (prescription_id);
ALTER TABLE pharmacy.dispensings ENABLE ROW LEVEL SECURITY;
CREATE POLICY dispensings_scope ON pharmacy.dispensings TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON pharmacy.dispensings TO his_app;
GRANT USAGE ON SEQUENCE pharmacy.dispensings_id_seq TO his_app;

CREATE TABLE pharmacy.stock_moves (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    lot_id          bigint NOT NULL REFERENCES pharmacy.stock_lots (id),
    kind            text NOT NULL CHECK (kind IN ('receipt', 'dispense', 'adjust')),
    quantity        int NOT NULL CHECK (quantity <> 0),       -- signed: + in, - out
    receipt_id      bigint REFERENCES pharmacy.receipts (id),
    dispensing_id   bigint REFERENCES pharmacy.dispensings (id),
    item_seq        smallint,                                 -- the prescription item of a dispense
    reason          text CHECK (reason IN ('damaged', 'expired', 'count_correction', 'returned_to_supplier',
                                           'lost', 'other')),
    note            text CHECK (length(note) <= 500),
    user_id         bigint REFERENCES core.users (id),
    at              timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'adjust' OR reason IS NOT NULL),
    CHECK (kind <> 'dispense' OR dispensing_id IS NOT NULL)
);
CREATE INDEX stock_moves_lot ON pharmacy.stock_moves (lot_id, at);
CREATE INDEX stock_moves_dispensing ON pharmacy.stock_moves (dispensing_id) WHERE dispensing_id IS NOT NULL;
ALTER TABLE pharmacy.stock_moves ENABLE ROW LEVEL SECURITY;
CREATE POLICY stock_moves_scope ON pharmacy.stock_moves TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON pharmacy.stock_moves TO his_app;
GRANT USAGE ON SEQUENCE pharmacy.stock_moves_id_seq TO his_app;
