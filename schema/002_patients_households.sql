-- Patients and households (issue 4 points 1 and 4), and the small reference
-- catalogues they point at (administrative units, ethnic groups).
--
-- Scope: every clinical table carries facility_id and a row-level security
-- policy on his_app (docs/CONVENTIONS.md), so a commune worker of one station
-- never sees another station's patients or households even if a handler
-- forgets a WHERE clause.

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;

CREATE SCHEMA IF NOT EXISTS clinical;
CREATE SCHEMA IF NOT EXISTS catalog;
GRANT USAGE ON SCHEMA clinical TO his_app;
GRANT USAGE ON SCHEMA catalog TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Reference catalogues: no patient data, readable by everyone.

-- Administrative units on both structures: since 01/07/2025 two levels
-- (province, commune); the district level of older records is kept as
-- level 'district_old' with valid_to set, so historical addresses resolve.
CREATE TABLE catalog.admin_units (
    code        text NOT NULL CHECK (code ~ '^[0-9]{2,5}$'),
    level       text NOT NULL CHECK (level IN ('province', 'commune', 'district_old')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    name_fold   text NOT NULL,
    parent_code text,
    valid_from  date NOT NULL DEFAULT DATE '1900-01-01',
    valid_to    date,
    PRIMARY KEY (level, code, valid_from)
);
CREATE INDEX admin_units_code ON catalog.admin_units (code);
CREATE INDEX admin_units_name ON catalog.admin_units USING gin (name_fold gin_trgm_ops);
GRANT SELECT ON catalog.admin_units TO PUBLIC;

-- Thái Nguyên after the 2025 merger (it absorbed Bắc Kạn, whose communes
-- host the two demo stations). A demo subset: load the full list from the
-- social-security portal's catalogue in production (see docs/clinical-patients.md).
INSERT INTO catalog.admin_units (code, level, name, name_fold, parent_code, valid_from, valid_to) VALUES
    ('19', 'province', 'Tỉnh Thái Nguyên', 'tinh thai nguyen', NULL, DATE '1900-01-01', NULL),
    ('06', 'province', 'Tỉnh Bắc Kạn', 'tinh bac kan', NULL, DATE '1900-01-01', DATE '2025-06-30'),
    ('061', 'district_old', 'Huyện Ba Bể', 'huyen ba be', '06', DATE '1900-01-01', DATE '2025-06-30'),
    ('063', 'district_old', 'Huyện Bạch Thông', 'huyen bach thong', '06', DATE '1900-01-01', DATE '2025-06-30'),
    ('169', 'district_old', 'Huyện Phú Bình', 'huyen phu binh', '19', DATE '1900-01-01', DATE '2025-06-30'),
    ('168', 'district_old', 'Huyện Đại Từ', 'huyen dai tu', '19', DATE '1900-01-01', DATE '2025-06-30'),
    ('01894', 'commune', 'Xã Phúc Lộc', 'xa phuc loc', '19', DATE '2025-07-01', NULL),
    ('01906', 'commune', 'Xã Ba Bể', 'xa ba be', '19', DATE '2025-07-01', NULL),
    ('01900', 'commune', 'Xã Chợ Rã', 'xa cho ra', '19', DATE '2025-07-01', NULL),
    ('01912', 'commune', 'Xã Nam Mẫu', 'xa nam mau', '19', DATE '2025-07-01', NULL),
    ('05935', 'commune', 'Xã Phú Bình', 'xa phu binh', '19', DATE '2025-07-01', NULL),
    ('05941', 'commune', 'Xã Tân Khánh', 'xa tan khanh', '19', DATE '2025-07-01', NULL),
    ('05665', 'commune', 'Xã Đại Từ', 'xa dai tu', '19', DATE '2025-07-01', NULL),
    ('05671', 'commune', 'Xã Quân Chu', 'xa quan chu', '19', DATE '2025-07-01', NULL),
    ('05443', 'commune', 'Phường Phan Đình Phùng', 'phuong phan dinh phung', '19', DATE '2025-07-01', NULL),
    ('05449', 'commune', 'Phường Gia Sàng', 'phuong gia sang', '19', DATE '2025-07-01', NULL);

-- The 54 ethnic groups, codes of QĐ 121-TCTK/PPCĐ (1979), used as MA_DANTOC.
CREATE TABLE catalog.ethnicities (
    code      char(2) PRIMARY KEY CHECK (code ~ '^[0-9]{2}$'),
    name      text NOT NULL,
    name_fold text NOT NULL
);
GRANT SELECT ON catalog.ethnicities TO PUBLIC;
INSERT INTO catalog.ethnicities (code, name, name_fold) VALUES
    ('01', 'Kinh', 'kinh'), ('02', 'Tày', 'tay'), ('03', 'Thái', 'thai'), ('04', 'Hoa', 'hoa'),
    ('05', 'Khơ-me', 'kho-me'), ('06', 'Mường', 'muong'), ('07', 'Nùng', 'nung'), ('08', 'HMông', 'hmong'),
    ('09', 'Dao', 'dao'), ('10', 'Gia-rai', 'gia-rai'), ('11', 'Ngái', 'ngai'), ('12', 'Ê-đê', 'e-de'),
    ('13', 'Ba-na', 'ba-na'), ('14', 'Xơ-Đăng', 'xo-dang'), ('15', 'Sán Chay', 'san chay'),
    ('16', 'Cơ-ho', 'co-ho'), ('17', 'Chăm', 'cham'), ('18', 'Sán Dìu', 'san diu'), ('19', 'Hrê', 'hre'),
    ('20', 'Mnông', 'mnong'), ('21', 'Ra-glai', 'ra-glai'), ('22', 'Xtiêng', 'xtieng'),
    ('23', 'Bru-Vân Kiều', 'bru-van kieu'), ('24', 'Thổ', 'tho'), ('25', 'Giáy', 'giay'),
    ('26', 'Cơ-tu', 'co-tu'), ('27', 'Gié-Triêng', 'gie-trieng'), ('28', 'Mạ', 'ma'),
    ('29', 'Khơ-mú', 'kho-mu'), ('30', 'Co', 'co'), ('31', 'Tà-ôi', 'ta-oi'), ('32', 'Chơ-ro', 'cho-ro'),
    ('33', 'Kháng', 'khang'), ('34', 'Xinh-mun', 'xinh-mun'), ('35', 'Hà Nhì', 'ha nhi'),
    ('36', 'Chu-ru', 'chu-ru'), ('37', 'Lào', 'lao'), ('38', 'La Chí', 'la chi'), ('39', 'La Ha', 'la ha'),
    ('40', 'Phù Lá', 'phu la'), ('41', 'La Hủ', 'la hu'), ('42', 'Lự', 'lu'), ('43', 'Lô Lô', 'lo lo'),
    ('44', 'Chứt', 'chut'), ('45', 'Mảng', 'mang'), ('46', 'Pà Thẻn', 'pa then'), ('47', 'Cơ Lao', 'co lao'),
    ('48', 'Cống', 'cong'), ('49', 'Bố Y', 'bo y'), ('50', 'Si La', 'si la'), ('51', 'Pu Péo', 'pu peo'),
    ('52', 'Brâu', 'brau'), ('53', 'Ơ Đu', 'o du'), ('54', 'Rơ-măm', 'ro-mam');

-- ---------------------------------------------------------------------------
-- Patients

-- Patient codes are per facility but drawn from one sequence: simple and
-- never reused after a merge.
CREATE SEQUENCE clinical.patient_code_seq;

CREATE TABLE clinical.patients (
    id             bigserial PRIMARY KEY,
    facility_id    bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                   REFERENCES core.facilities (id),
    code           text NOT NULL DEFAULT ('BN' || to_char(nextval('clinical.patient_code_seq'), 'FM0000000000'))
                   CHECK (length(code) BETWEEN 1 AND 20),
    full_name      text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    -- text_fold(full_name), computed in C (core/text.h) so search and index
    -- agree byte for byte; lower-case ASCII, single spaces.
    name_fold      text NOT NULL CHECK (length(name_fold) <= 400),
    birth_date     date,
    birth_year     smallint NOT NULL CHECK (birth_year BETWEEN 1880 AND 2200),
    sex            text NOT NULL DEFAULT 'unknown' CHECK (sex IN ('male', 'female', 'unknown')),
    cccd           char(12) CHECK (cccd ~ '^[0-9]{12}$'),
    phone          text CHECK (phone ~ '^[0-9]{9,11}$'),
    ethnicity      char(2) REFERENCES catalog.ethnicities (code),
    nationality    text NOT NULL DEFAULT 'VN' CHECK (nationality ~ '^[A-Z0-9]{2,3}$'),
    occupation     text CHECK (length(occupation) <= 100),
    province_code  text CHECK (province_code ~ '^[0-9]{2}$'),
    commune_code   text CHECK (commune_code ~ '^[0-9]{5}$'),
    village        text CHECK (length(village) <= 100),
    address_line   text CHECK (length(address_line) <= 300),
    -- District of the pre-July-2025 structure: kept on historical records only.
    old_district_code text CHECK (old_district_code ~ '^[0-9]{3}$'),
    card_number    char(15) CHECK (card_number ~ '^[A-Z]{2}[1-5][0-9]{12}$'),
    card_valid_from date,
    card_valid_to  date,
    card_primary_facility char(5) CHECK (card_primary_facility ~ '^[0-9]{2}[0-9A-Z]{3}$'),
    merged_into    bigint REFERENCES clinical.patients (id),
    version        int NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, code),
    CHECK (birth_date IS NULL OR extract(year FROM birth_date) = birth_year),
    CHECK (card_valid_to IS NULL OR card_valid_from IS NULL OR card_valid_to >= card_valid_from),
    CHECK (merged_into IS NULL OR merged_into <> id)
);

-- Name search: the folded name with a leading space so a pattern
-- '% nguyen van an%' matches at word starts and its trigrams include the
-- padded word-start ones. facility_id is in the same GIN index (btree_gin):
-- the RLS predicate facility_id = X is then answered inside the index, whose
-- fast scan skips through the long posting lists of common trigrams ("ngu",
-- "van") using the short facility list.
CREATE INDEX patients_name_trgm ON clinical.patients
    USING gin (facility_id, (' ' || name_fold) gin_trgm_ops) WHERE merged_into IS NULL;
-- Full-name prefix search in name order ("nguyen van an%"): a range scan that
-- stops after LIMIT rows, whatever the size of the province.
CREATE INDEX patients_name_prefix ON clinical.patients (facility_id, name_fold text_pattern_ops)
    WHERE merged_into IS NULL;
CREATE INDEX patients_cccd ON clinical.patients (cccd) WHERE cccd IS NOT NULL;
CREATE INDEX patients_card ON clinical.patients (card_number) WHERE card_number IS NOT NULL;
CREATE INDEX patients_phone ON clinical.patients (phone) WHERE phone IS NOT NULL;
CREATE INDEX patients_merged ON clinical.patients (merged_into) WHERE merged_into IS NOT NULL;

ALTER TABLE clinical.patients ENABLE ROW LEVEL SECURITY;
CREATE POLICY patients_scope ON clinical.patients TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON clinical.patients TO his_app;
GRANT USAGE ON SEQUENCE clinical.patients_id_seq, clinical.patient_code_seq TO his_app;

-- One row per merge: the merged record keeps existing (merged_into points at
-- the survivor) so old references and audit rows still resolve.
CREATE TABLE clinical.patient_merges (
    id            bigserial PRIMARY KEY,
    facility_id   bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                  REFERENCES core.facilities (id),
    from_patient_id bigint NOT NULL REFERENCES clinical.patients (id),
    into_patient_id bigint NOT NULL REFERENCES clinical.patients (id),
    merged_by     bigint REFERENCES core.users (id),
    merged_at     timestamptz NOT NULL DEFAULT now(),
    moved         text NOT NULL DEFAULT '',
    CHECK (from_patient_id <> into_patient_id)
);
CREATE INDEX patient_merges_from ON clinical.patient_merges (from_patient_id);
CREATE INDEX patient_merges_into ON clinical.patient_merges (into_patient_id);
ALTER TABLE clinical.patient_merges ENABLE ROW LEVEL SECURITY;
CREATE POLICY patient_merges_scope ON clinical.patient_merges TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON clinical.patient_merges TO his_app;
GRANT USAGE ON SEQUENCE clinical.patient_merges_id_seq TO his_app;

-- ---------------------------------------------------------------------------
-- Households at commune stations: facility_id is the station's facility.

CREATE SEQUENCE clinical.household_code_seq;

CREATE TABLE clinical.households (
    id             bigserial PRIMARY KEY,
    facility_id    bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                   REFERENCES core.facilities (id),
    code           text NOT NULL DEFAULT ('HGD' || to_char(nextval('clinical.household_code_seq'), 'FM000000000'))
                   CHECK (code ~ '^[0-9A-Za-z._-]{1,30}$'),
    province_code  text CHECK (province_code ~ '^[0-9]{2}$'),
    commune_code   text NOT NULL CHECK (commune_code ~ '^[0-9]{5}$'),
    village        text CHECK (length(village) <= 100),
    address        text CHECK (length(address) <= 300),
    head_patient_id bigint REFERENCES clinical.patients (id),
    version        int NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, code)
);
CREATE INDEX households_commune ON clinical.households (facility_id, commune_code, village);
CREATE INDEX households_head ON clinical.households (head_patient_id);
ALTER TABLE clinical.households ENABLE ROW LEVEL SECURITY;
CREATE POLICY households_scope ON clinical.households TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON clinical.households TO his_app;
GRANT USAGE ON SEQUENCE clinical.households_id_seq, clinical.household_code_seq TO his_app;

-- Memberships are ended (left_at), never deleted: a move is the old row
-- closed plus a new one, so the history of who lived where stays.
CREATE TABLE clinical.household_members (
    id             bigserial PRIMARY KEY,
    facility_id    bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                   REFERENCES core.facilities (id),
    household_id   bigint NOT NULL REFERENCES clinical.households (id),
    patient_id     bigint NOT NULL REFERENCES clinical.patients (id),
    relationship   text NOT NULL CHECK (relationship IN ('head', 'spouse', 'child', 'parent', 'grandchild',
                                                         'grandparent', 'sibling', 'child_in_law', 'other')),
    joined_at      timestamptz NOT NULL DEFAULT now(),
    left_at        timestamptz,
    CHECK (left_at IS NULL OR left_at >= joined_at)
);
CREATE UNIQUE INDEX household_members_one_active ON clinical.household_members (patient_id) WHERE left_at IS NULL;
CREATE INDEX household_members_household ON clinical.household_members (household_id) WHERE left_at IS NULL;
ALTER TABLE clinical.household_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY household_members_scope ON clinical.household_members TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT, UPDATE ON clinical.household_members TO his_app;
GRANT USAGE ON SEQUENCE clinical.household_members_id_seq TO his_app;
