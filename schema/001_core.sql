-- Accounts, sessions and the hash-chained audit log.
-- The application connects through the role his_app (SET ROLE after connect):
-- it owns nothing, so row-level security policies always apply to it.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'his_app') THEN
        CREATE ROLE his_app NOLOGIN;
    END IF;
END
$$;
GRANT his_app TO CURRENT_USER;

CREATE SCHEMA core;
CREATE SCHEMA audit;
GRANT USAGE ON SCHEMA core, audit TO his_app;

CREATE TABLE core.facilities (
    id             bigserial PRIMARY KEY,
    code           char(5) NOT NULL UNIQUE CHECK (code ~ '^[0-9]{2}[0-9A-Z]{3}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    level          text NOT NULL CHECK (level IN ('commune_station', 'district_hospital', 'provincial_hospital',
                                                  'pharmacy', 'health_department')),
    province_code  text CHECK (province_code ~ '^[0-9]{2}$'),
    commune_code   text CHECK (commune_code ~ '^[0-9]{5}$'),
    parent_id      bigint REFERENCES core.facilities (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON core.facilities TO his_app;

CREATE TABLE core.users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,64}$'),
    full_name      text NOT NULL DEFAULT '',
    role           text NOT NULL CHECK (role IN ('doctor', 'nurse', 'pharmacist', 'commune_worker',
                                                 'claims_officer', 'health_department', 'admin')),
    facility_id    bigint NOT NULL REFERENCES core.facilities (id),
    password_hash  text NOT NULL,
    practising_certificate text,
    failed_logins  int NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    last_login     timestamptz,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_facility ON core.users (facility_id);
GRANT SELECT ON core.users TO his_app;
GRANT UPDATE (failed_logins, locked_until, last_login) ON core.users TO his_app;

CREATE TABLE core.sessions (
    token_hash  text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES core.users (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_user ON core.sessions (user_id);
GRANT SELECT, INSERT, DELETE ON core.sessions TO his_app;

-- Idempotency keys of POSTs that create: the same key and body give the same answer.
CREATE TABLE core.idempotency (
    user_id      bigint NOT NULL,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash text NOT NULL,
    status       int NOT NULL,
    response     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
GRANT SELECT, INSERT ON core.idempotency TO his_app;

-- ---------------------------------------------------------------------------
-- Audit: append-only, one hash chain per facility (facility 0: events with no
-- facility, such as a login attempt for an unknown name). Each row's hash is
-- SHA-256(previous hash || canonical(row)), canonical = each field as
-- "<octet length>:<bytes>;" in the column order below. `his audit verify`
-- recomputes the chain outside the database.

CREATE TABLE audit.chain (
    facility_id bigint PRIMARY KEY,
    seq         bigint NOT NULL,
    last_hash   bytea NOT NULL
);

CREATE TABLE audit.events (
    id          bigserial PRIMARY KEY,
    chain_seq   bigint NOT NULL,
    facility_id bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     bigint,
    username    text,
    role        text,
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_id   text,
    patient_id  bigint,
    outcome     text NOT NULL,
    request_id  text,
    detail      text,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL,
    UNIQUE (facility_id, chain_seq)
);
CREATE INDEX audit_events_patient ON audit.events (patient_id) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_events_at ON audit.events (facility_id, at);

CREATE FUNCTION audit.canon(VARIADIC f text[]) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(string_agg(octet_length(coalesce(x, ''))::text || ':' || coalesce(x, '') || ';', '' ORDER BY i), 'UTF8')
    FROM unnest(f) WITH ORDINALITY AS t(x, i)
$$;

CREATE FUNCTION audit.chain_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audit AS $$
DECLARE
    s bigint;
    h bytea;
BEGIN
    -- The row lock on the facility's chain head orders concurrent writers;
    -- it is held to commit, so the chain has no gaps or forks.
    UPDATE audit.chain SET seq = seq + 1 WHERE facility_id = NEW.facility_id RETURNING seq, last_hash INTO s, h;
    IF NOT FOUND THEN
        INSERT INTO audit.chain (facility_id, seq, last_hash)
        VALUES (NEW.facility_id, 1, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
        ON CONFLICT (facility_id) DO UPDATE SET seq = audit.chain.seq + 1
        RETURNING seq, last_hash INTO s, h;
    END IF;
    NEW.chain_seq := s;
    NEW.at := date_trunc('microseconds', NEW.at);
    NEW.prev_hash := h;
    NEW.hash := sha256(h || audit.canon(NEW.chain_seq::text, NEW.facility_id::text,
        to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), NEW.user_id::text, NEW.username,
        NEW.role, NEW.action, NEW.entity, NEW.entity_id, NEW.patient_id::text, NEW.outcome, NEW.request_id,
        NEW.detail));
    UPDATE audit.chain SET last_hash = NEW.hash WHERE facility_id = NEW.facility_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_chain BEFORE INSERT ON audit.events FOR EACH ROW EXECUTE FUNCTION audit.chain_event();

CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

ALTER TABLE audit.events ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_insert ON audit.events FOR INSERT TO his_app WITH CHECK (true);
CREATE POLICY audit_read ON audit.events FOR SELECT TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint
           AND current_setting('his.role', true) = 'admin');
GRANT INSERT ON audit.events TO his_app;
GRANT SELECT ON audit.events TO his_app;
GRANT USAGE ON SEQUENCE audit.events_id_seq TO his_app;
