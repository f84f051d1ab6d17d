-- Hot-path functions as PL/pgSQL: a LANGUAGE sql function that cannot be
-- inlined (it has a FROM clause, or a SET clause) is planned again at every
-- call, which cost ~1.4 ms per visit read and ~0.3 ms per audit row under
-- the visit-write benchmark; PL/pgSQL keeps its plans for the session.
-- Same results: the bodies are taken over unchanged.

DO $$
DECLARE
    body text;
BEGIN
    SELECT prosrc INTO body FROM pg_proc WHERE oid = 'clinical.visit_json(bigint)'::regprocedure;
    body := rtrim(btrim(body, E' \n\t'), ';');
    EXECUTE format('CREATE OR REPLACE FUNCTION clinical.visit_json(vid bigint) RETURNS jsonb '
                   'LANGUAGE plpgsql STABLE AS %L',
                   E'BEGIN\n    RETURN (' || body || E');\nEND');
END
$$;

-- Each field as "<octet length>:<bytes>;", NULL as empty: byte for byte the
-- canonical form `his audit verify` recomputes (core/audit.c).
CREATE OR REPLACE FUNCTION audit.canon(VARIADIC f text[]) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    r text := '';
    x text;
BEGIN
    FOREACH x IN ARRAY f LOOP
        x := coalesce(x, '');
        r := r || octet_length(x) || ':' || x || ';';
    END LOOP;
    RETURN convert_to(r, 'UTF8');
END
$$;
