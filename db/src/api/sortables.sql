-- Sortables (OGC API - Features - Part 5 / Common - Part 3: Schemas, requirements class "Sortables"; STAC API
-- Sort extension v1.1.0): GET /collections/{id}/sortables, a JSON Schema (draft 2020-12) of the fields that
-- sortby accepts on that collection's items. additionalProperties is false: sortby on any other field is a
-- 400 that points here. No object, array or spatial property is sortable.

-- What an item search over these STAC collections (JSON array of ids; NULL: all) sorts by, {name: schema}:
-- the item columns pgSTAC sorts on, STAC common metadata (title, created, updated), and the queryables of the searched collections as pgSTAC reads them
-- (by their property wrapper: to_int, to_float, to_tstz; else text). Arrays, objects, geometry are left out.
CREATE OR REPLACE FUNCTION libs.stac_sortables_schema(collections jsonb) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH fixed(name, schema) AS (VALUES
        ('id', '{"title": "Item id", "type": "string"}'::jsonb),
        ('collection', '{"title": "Collection id", "type": "string"}'),
        ('datetime', '{"title": "Date and time", "type": "string", "format": "date-time"}'),
        ('start_datetime', '{"title": "Start date and time", "type": "string", "format": "date-time"}'),
        ('end_datetime', '{"title": "End date and time", "type": "string", "format": "date-time"}'),
        -- STAC common metadata every item may carry (what STAC Browser's sort menu offers): pgSTAC sorts them by
        -- their text, RFC 3339 times in time order; items without one sort after those with one
        ('title', '{"title": "Title", "type": "string"}'),
        ('created', '{"title": "Created", "type": "string", "format": "date-time"}'),
        ('updated', '{"title": "Updated", "type": "string", "format": "date-time"}')
    ), registered AS (
        SELECT DISTINCT ON (name) regexp_replace(q.name, '^properties\.', '') AS name, q.definition,
               CASE q.property_wrapper WHEN 'to_int' THEN 'integer' WHEN 'to_float' THEN 'number'
                    WHEN 'to_tstz' THEN 'date-time' WHEN 'to_text_array' THEN 'array'
                    ELSE coalesce(q.definition ->> 'type', 'string') END AS kind
        FROM pgstac.queryables q
        WHERE q.collection_ids IS NULL OR jsonb_typeof(collections) IS DISTINCT FROM 'array'
           OR q.collection_ids && ARRAY(SELECT jsonb_array_elements_text(collections))
        ORDER BY name, q.id
    )
    SELECT jsonb_object_agg(name, schema) FROM (
        SELECT name, schema FROM fixed
        UNION ALL
        SELECT r.name, jsonb_strip_nulls(jsonb_build_object(
                   'title', coalesce(r.definition ->> 'title', r.name), 'description', r.definition ->> 'description',
                   'type', CASE r.kind WHEN 'date-time' THEN 'string' ELSE r.kind END,
                   'format', CASE WHEN r.kind = 'date-time' THEN 'date-time' ELSE r.definition ->> 'format' END))
        FROM registered r
        WHERE r.name NOT IN (SELECT name FROM fixed) AND r.name <> 'geometry'
          AND r.kind IN ('string', 'number', 'integer', 'boolean', 'date-time')) s;
$$;
COMMENT ON FUNCTION libs.stac_sortables_schema(jsonb) IS
    'The fields an item search over these STAC collections (JSON array of ids, NULL: all) sorts by: '
    '{name: JSON Schema}. libs.stac_sortables lists their names; sortby on anything else is a 400.';

CREATE OR REPLACE FUNCTION libs.stac_sortables(collections jsonb) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(libs.stac_sortables_schema(collections)) k;
$$;
COMMENT ON FUNCTION libs.stac_sortables(jsonb) IS
    'The fields an item search over these collections (JSON array of ids, or NULL for all) may sort by.';

-- What sortby accepts on a feature collection's items, {name: schema}: id, datetime, end_datetime, and
-- the properties whose values are all of one scalar kind (libs.jsonb_kind; not arrays, objects, mixed).
CREATE OR REPLACE FUNCTION libs.features_sortables_schema(kinds jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT '{"id": {"title": "Feature id", "type": "string"},
             "datetime": {"title": "Date and time", "type": "string", "format": "date-time"},
             "end_datetime": {"title": "End date and time", "type": "string", "format": "date-time"}}'::jsonb
        || coalesce((SELECT jsonb_object_agg(k, libs.kind_schema(v #>> '{}') || jsonb_build_object('title', k))
                     FROM jsonb_each(coalesce(kinds, '{}')) AS e(k, v)
                     WHERE v #>> '{}' IN ('integer', 'number', 'string', 'date', 'date-time', 'boolean')
                       AND k NOT IN ('id', 'datetime', 'end_datetime', 'geometry', 'geom')), '{}');
$$;
COMMENT ON FUNCTION libs.features_sortables_schema(jsonb) IS
    'The fields sortby accepts on a feature collection with these property kinds: {name: JSON Schema}.';

-- A 400 naming the sortby fields a feature collection cannot sort by, pointing at its sortables.
CREATE OR REPLACE FUNCTION libs.features_check_sortby(collection_id text, sortby jsonb, kinds jsonb) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    sortable jsonb := libs.features_sortables_schema(kinds);
    unknown text[];
BEGIN
    IF jsonb_typeof(sortby) <> 'array' OR jsonb_array_length(sortby) = 0 THEN RETURN; END IF;
    SELECT array_agg(s ->> 'field' ORDER BY i) INTO unknown FROM jsonb_array_elements(sortby) WITH ORDINALITY t(s, i)
    WHERE NOT sortable ? libs.cql2_property_name(s ->> 'field');
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'sortby: cannot sort the features of % by %', collection_id, array_to_string(unknown, ', ')
            USING ERRCODE = '22023', HINT = format('sortable fields: %s (GET %s; arrays, objects, geometry and '
                'properties of mixed types are not sortable)',
                (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(sortable) k),
                libs.url(format('collections/%s/sortables', libs.url_encode(collection_id))));
    END IF;
END
$$;
COMMENT ON FUNCTION libs.features_check_sortby(text, jsonb, jsonb) IS
    'Raises 22023 (400) for sortby fields not in the collection''s sortables, naming them and the sortables URL.';

CREATE OR REPLACE FUNCTION api.collection_sortables(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    kind text := libs.collection_kind(collection_id);
    props jsonb;
BEGIN
    PERFORM libs.features_check_query(params -> 'query', '{}', ARRAY['f']);
    props := CASE WHEN kind IN ('features', 'hybrid')
                  THEN libs.features_sortables_schema(libs.features_collection(collection_id) -> 'kinds')
                  ELSE libs.stac_sortables_schema(jsonb_build_array(collection_id)) END;
    RETURN jsonb_build_object(
        '$schema', 'https://json-schema.org/draft/2020-12/schema',
        '$id', libs.url(format('collections/%s/sortables', libs.url_encode(collection_id))),
        'type', 'object',
        'title', 'Sortables of ' || (SELECT coalesce(c.content ->> 'title', c.id) FROM pgstac.collections c
                                     WHERE c.id = collection_sortables.collection_id),
        'properties', props,
        'additionalProperties', false);
END
$$;
COMMENT ON FUNCTION api.collection_sortables(text, jsonb) IS
    'GET /collections/{collectionId}/sortables: the fields sortby accepts on this collection''s items, as a JSON '
    'Schema (draft 2020-12; additionalProperties false: any other field is a 400). Every kind of collection.';
