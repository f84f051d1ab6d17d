-- The durable outbox (core/outbox.c): every message to an outside system
-- (national prescription portal, pharmacy portal, claims portal, HL7 peers)
-- is a row written in the same transaction as the business change, so a
-- message exists if and only if the change committed. Background workers of
-- `his serve` deliver the rows through the owner connection (no RLS: they
-- scope by hand); the API lists them through his_app under RLS.
--
-- States: queued (waiting, maybe after failed attempts), sent (in flight: a
-- worker holds it until next_attempt_at, the lease; after a crash the lease
-- runs out and it is sent again), acknowledged (the remote said it has it),
-- error (the remote refused it for good; errors holds its list).

CREATE TABLE core.outbox (
    id              bigserial PRIMARY KEY,
    facility_id     bigint NOT NULL DEFAULT current_setting('his.facility_id')::bigint
                    REFERENCES core.facilities (id),
    target          text NOT NULL CHECK (target ~ '^(prescription-portal|pharmacy-portal|claims-portal|hl7:[A-Za-z0-9._-]{1,64})$'),
    kind            text NOT NULL CHECK (length(kind) BETWEEN 1 AND 50),
    -- The idempotency key the remote dedupes by (the prescription code, the
    -- invoice number, MSH-10): one row per key and target, ever.
    dedupe_key      text NOT NULL CHECK (length(dedupe_key) BETWEEN 1 AND 200),
    -- Rows with a partition are delivered strictly in id order within
    -- (target, partition): the next waits until the previous is settled.
    partition_key   text CHECK (length(partition_key) <= 200),
    payload         text NOT NULL CHECK (octet_length(payload) <= 4194304),
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'acknowledged', 'error')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text CHECK (length(last_error) <= 2000),
    errors          jsonb,                                  -- the remote's error list on rejection
    remote_ref      text CHECK (length(remote_ref) <= 200), -- the remote's id for it, if any
    created_by      bigint REFERENCES core.users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    acknowledged_at timestamptz,
    UNIQUE (target, dedupe_key)
);
-- The workers' claim: due rows not yet settled, oldest first.
CREATE INDEX outbox_due ON core.outbox (next_attempt_at, id) WHERE state IN ('queued', 'sent');
-- Ordered partitions: "is an earlier row of this partition still open?"
CREATE INDEX outbox_partition ON core.outbox (target, partition_key, id)
    WHERE partition_key IS NOT NULL AND state IN ('queued', 'sent');
CREATE INDEX outbox_facility ON core.outbox (facility_id, target, state, id);

ALTER TABLE core.outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY outbox_scope ON core.outbox TO his_app
    USING (facility_id = current_setting('his.facility_id', true)::bigint)
    WITH CHECK (facility_id = current_setting('his.facility_id', true)::bigint);
GRANT SELECT, INSERT ON core.outbox TO his_app;
-- Re-queue a refused or waiting message by hand (POST /api/v1/outbox/{id}/retry).
GRANT UPDATE (state, next_attempt_at, last_error) ON core.outbox TO his_app;
GRANT USAGE ON SEQUENCE core.outbox_id_seq TO his_app;
