-- Feature collections: queryables (types derived from the data), facets (value counts) and
-- property aggregations (GET /collections/{id}/aggregate).

CREATE OR REPLACE FUNCTION libs.kind_schema(kind text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE kind
        WHEN 'date' THEN '{"type": "string", "format": "date"}'
        WHEN 'date-time' THEN '{"type": "string", "format": "date-time"}'
        WHEN 'integer' THEN '{"type": "integer"}'
        WHEN 'number' THEN '{"type": "number"}'
        WHEN 'string' THEN '{"type": "string"}'
        WHEN 'boolean' THEN '{"type": "boolean"}'
        WHEN 'array' THEN '{"type": "array"}'
        WHEN 'object' THEN '{"type": "object"}'
        ELSE '{}' END::jsonb;
$$;
COMMENT ON FUNCTION libs.kind_schema(text) IS 'The JSON Schema of a derived property kind (mixed or unknown: {}).';

CREATE OR REPLACE FUNCTION api.features_queryables(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    meta jsonb := libs.features_collection(collection_id);
BEGIN
    PERFORM libs.features_check_query(params -> 'query', '{}', ARRAY['f']);
    RETURN jsonb_build_object(
        '$schema', 'https://json-schema.org/draft/2019-09/schema',
        '$id', libs.url(format('collections/%s/queryables', libs.url_encode(collection_id))),
        'type', 'object',
        'title', (SELECT coalesce(c.content ->> 'title', c.id) FROM pgstac.collections c WHERE c.id = collection_id),
        'properties', jsonb_build_object(
            'geometry', jsonb_build_object('title', 'Geometry', 'x-ogc-role', 'primary-geometry',
                                           '$ref', 'https://geojson.org/schema/Geometry.json'),
            'id', jsonb_build_object('title', 'Feature id', 'type', 'string', 'x-ogc-role', 'id'),
            'datetime', jsonb_build_object('title', 'Date and time', 'type', 'string', 'format', 'date-time',
                                           'x-ogc-role', 'primary-instant'))
          || coalesce((SELECT jsonb_object_agg(k, libs.kind_schema(v #>> '{}') || jsonb_build_object('title', k))
                       FROM jsonb_each(meta -> 'kinds') AS e(k, v)), '{}'),
        'additionalProperties', false);
END
$$;
COMMENT ON FUNCTION api.features_queryables(text, jsonb) IS
    'GET /collections/{id}/queryables of a feature collection: a JSON Schema whose property types are derived '
    'from the stored features (integer, number, string, date, date-time, boolean, array, object).';

-- Value counts per property for the features matching the request's bbox, datetime, ids and filter.
CREATE OR REPLACE FUNCTION libs.features_facets(collection_id text, params jsonb, kinds jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    names text[] := libs.query_list(params -> 'query', 'facetby');
    cond text := libs.features_where(collection_id, params, kinds);
    out jsonb := '{}';
    counts jsonb;
    n text;
BEGIN
    PERFORM libs.features_check_properties(coalesce(names, '{}'), kinds, 'facetby');
    FOREACH n IN ARRAY coalesce(names, '{}') LOOP
        EXECUTE format('SELECT coalesce(jsonb_agg(jsonb_build_object(''value'', v, ''count'', c) '
                       'ORDER BY c DESC, v), ''[]'') FROM (SELECT %s AS v, count(*) AS c FROM data.features '
                       'WHERE %s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100) s',
                       libs.cql2_as_jsonb(libs.cql2_property(n, jsonb_build_object('kinds', kinds))), cond)
            INTO counts;
        out := out || jsonb_build_object(libs.cql2_property_name(n), counts);
    END LOOP;
    RETURN out;
END
$$;

CREATE OR REPLACE FUNCTION api.features_facets(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_object('facets',
        libs.features_facets(collection_id, params, libs.features_collection(collection_id) -> 'kinds'));
$$;
COMMENT ON FUNCTION api.features_facets(text, jsonb) IS
    'Facets of a feature collection: {"facets": {"crop": [{"value": "wheat", "count": 12}, ...]}} for the '
    'features matching bbox, datetime, ids and filter; params.query.facetby = ''crop,farmer''. '
    'The items response carries the same member when ?facetby= is given.';

-- 'count' | 'sum(p)' | 'avg(p)' | 'min(p)' | 'max(p)' -> {"name", "sql"}.
CREATE OR REPLACE FUNCTION libs.features_metric(metric text, kinds jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    m text[] := regexp_match(trim(metric), '^(count|sum|avg|min|max)\s*\(\s*([^()]*?)\s*\)$', 'i');
    p jsonb;
BEGIN
    IF lower(trim(metric)) IN ('count', 'count()', 'count(*)') THEN
        RETURN jsonb_build_object('name', 'count', 'sql', 'count(*)');
    END IF;
    IF m IS NULL OR m[2] = '' THEN
        RAISE EXCEPTION 'metrics: % is not one of count, sum(p), avg(p), min(p), max(p)', metric USING ERRCODE = '22023';
    END IF;
    PERFORM libs.features_check_properties(ARRAY[m[2]], kinds, 'metrics');
    p := libs.cql2_property(m[2], jsonb_build_object('kinds', kinds));
    IF lower(m[1]) IN ('sum', 'avg') AND p ->> 'kind' NOT IN ('number', 'jsonb') THEN
        RAISE EXCEPTION 'metrics: %(%) needs a numeric property; % is %', lower(m[1]), m[2], m[2], kinds ->> m[2]
            USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object('name', lower(m[1]) || '(' || m[2] || ')', 'sql', format('to_jsonb(%s(%s))', lower(m[1]),
        CASE WHEN lower(m[1]) IN ('sum', 'avg') THEN libs.cql2_as(p, 'number')
             WHEN p ->> 'kind' IN ('number', 'text', 'date', 'timestamp') THEN p ->> 'sql'
             ELSE libs.cql2_as(p, 'text') END));
END
$$;

CREATE OR REPLACE FUNCTION api.features_aggregate(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    kinds jsonb := libs.features_collection(collection_id) -> 'kinds';
    groupby text[] := coalesce(libs.query_list(params -> 'query', 'groupby'), '{}');
    metrics jsonb[];
    keys text;
    groups jsonb;
    matched bigint;
    cond text;
BEGIN
    PERFORM libs.features_check_query(params -> 'query', '{}',
        ARRAY['bbox', 'datetime', 'filter', 'filter-lang', 'filter-crs', 'groupby', 'metrics', 'ids', 'f']);
    PERFORM libs.features_check_properties(groupby, kinds, 'groupby');
    SELECT array_agg(libs.features_metric(m, kinds) ORDER BY i) INTO metrics
    FROM unnest(coalesce(libs.query_list(params -> 'query', 'metrics'), ARRAY['count'])) WITH ORDINALITY u(m, i);
    cond := libs.features_where(collection_id, params, kinds);
    SELECT string_agg(format('%L, %s', libs.cql2_property_name(g),
                             libs.cql2_as_jsonb(libs.cql2_property(g, jsonb_build_object('kinds', kinds)))), ', ')
    INTO keys FROM unnest(groupby) g;
    EXECUTE format('SELECT coalesce(jsonb_agg(g ORDER BY g), ''[]'') FROM (SELECT jsonb_build_object(%s) '
                   '|| jsonb_build_object(%s) AS g FROM data.features WHERE %s %s) s',
                   coalesce(keys, ''), (SELECT string_agg(format('%L, %s', m ->> 'name', m ->> 'sql'), ', ')
                                        FROM unnest(metrics) m),
                   cond, CASE WHEN keys IS NOT NULL THEN 'GROUP BY ' || (SELECT string_agg(
                       libs.cql2_as_jsonb(libs.cql2_property(g, jsonb_build_object('kinds', kinds))), ', ')
                       FROM unnest(groupby) g) END)
        INTO groups;
    EXECUTE format('SELECT count(*) FROM data.features WHERE %s', cond) INTO matched;
    RETURN jsonb_build_object('collection', collection_id, 'groupby', to_jsonb(groupby),
        'metrics', (SELECT jsonb_agg(m -> 'name') FROM unnest(metrics) m),
        'numberMatched', matched, 'groups', groups,
        'links', jsonb_build_array(libs.link('collection', libs.url('collections/' || libs.url_encode(collection_id)))));
END
$$;
COMMENT ON FUNCTION api.features_aggregate(text, jsonb) IS
    'GET /collections/{id}/aggregate: metrics per group of features matching bbox, datetime, ids and filter. '
    'params.query: groupby=crop,farmer; metrics=count,sum(area),avg(ph),min(x),max(x) (default count). '
    'Returns {"groups": [{"crop": "wheat", "count": 3, "sum(area)": 12.5}], "numberMatched", ...}. '
    'Example: SELECT api.features_aggregate(''fields'', ''{"query": {"groupby": "crop", "metrics": "count,avg(ph)"}}'');';
