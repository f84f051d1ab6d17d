-- Merging two patients (POST /patients/{id}/merge) merges their personal
-- health records too (his/patients.c). Each section is a JSON object: a
-- member the survivor lacks (or holds as null) is taken from the merged
-- record; a list both hold (allergies, vaccinations, screenings ...) keeps
-- the survivor's entries and adds the merged record's entries it does not
-- already hold, in their order; any other member keeps the survivor's value.
CREATE FUNCTION clinical.health_section_merge(s jsonb, m jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k.key, CASE
               WHEN jsonb_typeof(s -> k.key) = 'array' AND jsonb_typeof(m -> k.key) = 'array' THEN
                   (s -> k.key) || coalesce((SELECT jsonb_agg(e.value ORDER BY e.ord)
                                             FROM jsonb_array_elements(m -> k.key) WITH ORDINALITY AS e(value, ord)
                                             WHERE NOT (s -> k.key) @> jsonb_build_array(e.value)), '[]'::jsonb)
               WHEN s ? k.key AND jsonb_typeof(s -> k.key) <> 'null' THEN s -> k.key
               ELSE m -> k.key END), '{}'::jsonb)
    FROM (SELECT jsonb_object_keys(coalesce(s, '{}'::jsonb)) AS key
          UNION SELECT jsonb_object_keys(coalesce(m, '{}'::jsonb))) k
$$;
