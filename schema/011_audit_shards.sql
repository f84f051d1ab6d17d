-- Audit chains sharded within each facility: one chain per (facility,
-- shard), the shard taken from the writing connection, so concurrent
-- requests of one facility no longer queue behind a single chain-head row
-- lock. Each chain is verified exactly as before (sequence without gaps,
-- previous hash, content hash, head); moving a row to another shard breaks
-- both chains. Rows written before this migration stay in shard 0.

ALTER TABLE audit.chain ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE audit.chain DROP CONSTRAINT chain_pkey;
ALTER TABLE audit.chain ADD PRIMARY KEY (facility_id, shard);

ALTER TABLE audit.events ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE audit.events DROP CONSTRAINT events_facility_id_chain_seq_key;
ALTER TABLE audit.events ADD CONSTRAINT events_chain_key UNIQUE (facility_id, shard, chain_seq);

CREATE OR REPLACE FUNCTION audit.chain_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audit AS $$
DECLARE
    s bigint;
    h bytea;
BEGIN
    -- 8 shards per facility; a pooled connection keeps writing one shard.
    NEW.shard := pg_backend_pid() % 8;
    UPDATE audit.chain SET seq = seq + 1
     WHERE facility_id = NEW.facility_id AND shard = NEW.shard
    RETURNING seq, last_hash INTO s, h;
    IF NOT FOUND THEN
        INSERT INTO audit.chain (facility_id, shard, seq, last_hash)
        VALUES (NEW.facility_id, NEW.shard, 1,
                '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
        ON CONFLICT (facility_id, shard) DO UPDATE SET seq = audit.chain.seq + 1
        RETURNING seq, last_hash INTO s, h;
    END IF;
    NEW.chain_seq := s;
    NEW.at := date_trunc('microseconds', NEW.at);
    NEW.prev_hash := h;
    NEW.hash := sha256(h || audit.canon(NEW.chain_seq::text, NEW.facility_id::text,
        to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), NEW.user_id::text, NEW.username,
        NEW.role, NEW.action, NEW.entity, NEW.entity_id, NEW.patient_id::text, NEW.outcome, NEW.request_id,
        NEW.detail));
    UPDATE audit.chain SET last_hash = NEW.hash WHERE facility_id = NEW.facility_id AND shard = NEW.shard;
    RETURN NEW;
END
$$;
