-- Clinical search at province size (issue 4 benchmarks; docs/benchmarks.md).
--
-- Word-start name search ("van an", "nguyen an", "an"): under row-level
-- security only leakproof operators may be index conditions ahead of the
-- policy, and LIKE is not leakproof, so as his_app the trigram index of
-- schema/002 (patients_name_trgm) could not be used and the search read
-- every live patient of the facility (36-190 ms at a station of 21,800).
-- This function runs as the owner (no RLS) so the trigram index applies, and
-- applies the facility scope itself, from the same transaction setting the
-- policy uses (his.facility_id, set by the server with SET LOCAL): a caller
-- cannot name another facility. It returns ids and a capped count only; the
-- handler reads the rows through clinical.patients again, so RLS still
-- filters what is returned.
--
-- pattern: a LIKE pattern on (' ' || name_fold), built by the server from the
--          folded query: '% w1% w2%' (each word starts a word of the name,
--          in order), LIKE's special characters escaped.
-- cap:     count at most this many matches (total_capped in the reply).
CREATE FUNCTION clinical.patient_name_search(pattern text, lim int, off int, cap int)
RETURNS TABLE (id bigint, ord int, total bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH m AS (
        SELECT p.id, p.name_fold FROM clinical.patients p
        WHERE p.facility_id = current_setting('his.facility_id')::bigint
          AND p.merged_into IS NULL AND (' ' || p.name_fold) LIKE pattern
        ORDER BY p.name_fold USING ~<~, p.id LIMIT cap),
    n AS (SELECT count(*) AS total FROM m)
    SELECT m.id, (row_number() OVER (ORDER BY m.name_fold USING ~<~, m.id))::int, n.total
    FROM m, n ORDER BY m.name_fold USING ~<~, m.id LIMIT lim OFFSET off
$$;
REVOKE ALL ON FUNCTION clinical.patient_name_search(text, int, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION clinical.patient_name_search(text, int, int, int) TO his_app;

-- The given name (the last word of the folded name) of live patients, per
-- facility: "nguyen an" and "an" are answered by a range on the given name
-- starting with the last word typed, then the word-start pattern as a filter
-- on those few rows. The composite trigram GIN above needs 20-40 ms of CPU
-- for such queries at a station of 21,800 people (common trigrams of two
-- million names); this range reads only the matching given names.
CREATE INDEX patients_given_name ON clinical.patients (facility_id, (split_part(name_fold, ' ', -1)) text_pattern_ops)
    WHERE merged_into IS NULL;

-- Same contract as patient_name_search, with given: the last word of the
-- folded query (a prefix of the given name). split_part is not leakproof, so
-- under RLS this range could not be an index condition either.
CREATE FUNCTION clinical.patient_given_search(pattern text, given text, lim int, off int, cap int)
RETURNS TABLE (id bigint, ord int, total bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH m AS (
        SELECT p.id, p.name_fold FROM clinical.patients p
        WHERE p.facility_id = current_setting('his.facility_id')::bigint
          AND p.merged_into IS NULL
          AND split_part(p.name_fold, ' ', -1) ~>=~ given AND split_part(p.name_fold, ' ', -1) ~<~ (given || chr(127))
          AND (' ' || p.name_fold) LIKE pattern
        ORDER BY p.name_fold USING ~<~, p.id LIMIT cap),
    n AS (SELECT count(*) AS total FROM m)
    SELECT m.id, (row_number() OVER (ORDER BY m.name_fold USING ~<~, m.id))::int, n.total
    FROM m, n ORDER BY m.name_fold USING ~<~, m.id LIMIT lim OFFSET off
$$;
REVOKE ALL ON FUNCTION clinical.patient_given_search(text, text, int, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION clinical.patient_given_search(text, text, int, int, int) TO his_app;
