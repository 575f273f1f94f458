-- Feature collections, read side (OGC API Features Part 1 + 3): the items of a collection, one feature,
-- the queryables. The STAC team's dispatchers call these for collections of kind 'features' or 'hybrid'.
-- Writes: api/features_write.sql; aggregations and facets: api/features_aggregate.sql.

-- libs.url_encode(text) is defined in api/stac.sql.

-- The feature collection behind an id, or a 404: {"kind", "kinds" (property kinds), "datetime_property"}.
CREATE OR REPLACE FUNCTION libs.features_collection(collection_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    out jsonb;
BEGIN
    SELECT jsonb_build_object('kind', m.kind, 'kinds', coalesce(fc.property_kinds, '{}'),
                              'datetime_property', fc.datetime_property, 'source_crs', m.source_crs)
    INTO out
    FROM data.collection_meta m LEFT JOIN data.feature_collections fc USING (collection_id)
    WHERE m.collection_id = features_collection.collection_id AND m.kind IN ('features', 'hybrid');
    IF out IS NULL THEN
        RAISE EXCEPTION 'no feature collection %', collection_id USING ERRCODE = 'P0002',
            HINT = 'GET /collections lists the collections; feature collections have kind features or hybrid';
    END IF;
    RETURN out;
END
$$;

-- Query parameters an items request accepts besides the collection's queryables (?crop=wheat).
CREATE OR REPLACE FUNCTION libs.features_query_params() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT ARRAY['bbox', 'bbox-crs', 'datetime', 'limit', 'offset', 'token', 'filter', 'filter-lang', 'filter-crs',
                 'sortby', 'properties', 'fields', 'facetby', 'ids', 'f', 'crs'];
$$;

-- Raises a 400 naming the query parameters that are neither known nor queryables.
CREATE OR REPLACE FUNCTION libs.features_check_query(query jsonb, kinds jsonb, allowed text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    unknown text[];
BEGIN
    SELECT array_agg(k ORDER BY k) INTO unknown FROM jsonb_object_keys(coalesce(query, '{}')) k
    WHERE k <> ALL (allowed) AND NOT kinds ? k;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown query parameter(s): %', array_to_string(unknown, ', ') USING ERRCODE = '22023',
            HINT = format('allowed: %s, or a queryable property name (?name=value)', array_to_string(allowed, ', '));
    END IF;
END
$$;

-- A comma-separated query parameter as a text array (NULL when absent).
CREATE OR REPLACE FUNCTION libs.query_list(query jsonb, name text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT array_agg(trim(p) ORDER BY i) FILTER (WHERE trim(p) <> '')
    FROM regexp_split_to_table(query ->> name, ',') WITH ORDINALITY AS s(p, i)
    WHERE query ? name;
$$;

-- SQL for the datetime parameter: an instant or 'start/end' ('..' or '' open) intersecting
-- [datetime, coalesce(end_datetime, datetime)].
CREATE OR REPLACE FUNCTION libs.features_datetime_sql(dt text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    parts text[] := string_to_array(dt, '/');
    a text := nullif(nullif(trim(parts[1]), '..'), '');
    b text := nullif(nullif(trim(coalesce(parts[2], parts[1])), '..'), '');
BEGIN
    IF dt IS NULL OR trim(dt) = '' THEN RETURN 'TRUE'; END IF;
    IF cardinality(parts) > 2 THEN
        RAISE EXCEPTION 'datetime % must be an instant or start/end', dt USING ERRCODE = '22023';
    END IF;
    RETURN concat_ws(' AND ', 'datetime IS NOT NULL',
        CASE WHEN b IS NOT NULL THEN format('datetime <= %L::timestamptz', b::timestamptz) END,
        CASE WHEN a IS NOT NULL THEN format('coalesce(end_datetime, datetime) >= %L::timestamptz', a::timestamptz) END);
END
$$;

-- ?name=value for queryables: equality on the property read as text.
CREATE OR REPLACE FUNCTION libs.features_query_equals_sql(query jsonb, kinds jsonb, allowed text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT coalesce(string_agg(format('libs.jsonb_text(properties -> %L) = %L', key, value), ' AND '), 'TRUE')
    FROM jsonb_each_text(coalesce(query, '{}'))
    WHERE key <> ALL (allowed) AND kinds ? key;
$$;

-- The WHERE clause of an items request: collection, bbox, datetime, ids, ?queryable=value, filter.
CREATE OR REPLACE FUNCTION libs.features_where(collection_id text, params jsonb, kinds jsonb,
                                               skip_filter boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    b jsonb := params -> 'bbox';
    n int := coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(b) = 'array' THEN b END), 0);
BEGIN
    RETURN concat_ws(' AND ',
        format('collection_id = %L', collection_id),
        CASE WHEN n IN (4, 6) THEN format('public.st_intersects(geom, %s)', libs.bbox_geom_sql(
            (b ->> 0)::float8, (b ->> 1)::float8, (b ->> (n / 2))::float8, (b ->> (n / 2 + 1))::float8)) END,
        libs.features_datetime_sql(params ->> 'datetime'),
        CASE WHEN jsonb_typeof(params -> 'ids') = 'array' THEN
            format('id = ANY(%L::text[])', ARRAY(SELECT jsonb_array_elements_text(params -> 'ids'))) END,
        libs.features_query_equals_sql(params -> 'query', kinds, libs.features_query_params()),
        CASE WHEN NOT skip_filter THEN libs.cql2_to_sql(params -> 'filter', collection_id) END);
END
$$;
COMMENT ON FUNCTION libs.features_where(text, jsonb, jsonb, boolean) IS
    'SQL WHERE clause over data.features for an items request (bbox, datetime, ids, ?queryable=value, filter).';

-- ORDER BY from sortby [{field, direction}]; file order (seq) last, for stable pages.
CREATE OR REPLACE FUNCTION libs.features_order_sql(sortby jsonb, kinds jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    terms text;
BEGIN
    IF coalesce(jsonb_typeof(sortby), '') <> 'array' OR jsonb_array_length(sortby) = 0 THEN RETURN 'seq'; END IF;
    PERFORM libs.features_check_properties(ARRAY(SELECT s ->> 'field' FROM jsonb_array_elements(sortby) s),
                                           kinds, 'sortby');
    SELECT string_agg(format('%s %s NULLS LAST', p ->> 'sql' || CASE WHEN p ->> 'kind' = 'text' THEN ' COLLATE "C"' ELSE '' END,
                             CASE WHEN lower(s ->> 'direction') = 'desc' THEN 'DESC' ELSE 'ASC' END), ', ' ORDER BY i)
    INTO terms
    FROM jsonb_array_elements(sortby) WITH ORDINALITY AS x(s, i),
         LATERAL libs.cql2_property(s ->> 'field', jsonb_build_object('kinds', kinds)) p;
    RETURN terms || ', seq';
END
$$;

-- One stored feature as GeoJSON, with only the selected properties when `sel` is given; `items_url` is the
-- collection's items URL ending in '/', `collection_url` the collection's URL (computed once per request).
-- No SET clause and no calls to functions that have one: the planner inlines it into the items query, which
-- makes a page of 100 features about 20 times cheaper than a per-row call with nested link helpers.
CREATE OR REPLACE FUNCTION libs.feature_json(f data.features, sel text[], items_url text, collection_url text)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'type', 'Feature',
        'id', f.id,
        'geometry', public.st_asgeojson(f.geom, 9)::jsonb,
        'properties', CASE WHEN sel IS NULL THEN f.properties
            ELSE coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(f.properties) e
                           WHERE e.key = ANY(sel)), '{}') END,
        'collection', f.collection_id,
        'links', jsonb_build_array(
            jsonb_build_object('rel', 'self', 'type', 'application/geo+json', 'href', items_url
                || CASE WHEN f.id ~ '^[A-Za-z0-9._~-]*$' THEN f.id ELSE libs.url_encode(f.id) END),
            jsonb_build_object('rel', 'collection', 'type', 'application/json', 'href', collection_url)));
$$;

CREATE OR REPLACE FUNCTION libs.feature_json(f data.features, sel text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
    SELECT libs.feature_json(f, sel, libs.url(format('collections/%s/items/', libs.url_encode(f.collection_id))),
                             libs.url('collections/' || libs.url_encode(f.collection_id)));
$$;

-- The query string of a page of items: the request's own parameters with offset replaced.
CREATE OR REPLACE FUNCTION libs.features_page_url(collection_id text, query jsonb, page_offset bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.url(format('collections/%s/items', libs.url_encode(collection_id)))
        || coalesce('?' || string_agg(libs.url_encode(key) || '=' || libs.url_encode(value), '&' ORDER BY key), '')
    FROM jsonb_each_text(coalesce(query, '{}') - 'offset' - 'token'
                         || CASE WHEN page_offset > 0 THEN jsonb_build_object('offset', page_offset::text) ELSE '{}' END);
$$;

-- The properties an items request selects: ?properties=a,b (or fields.include), checked against the queryables.
CREATE OR REPLACE FUNCTION libs.features_selection(params jsonb, kinds jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    sel text[] := coalesce(libs.query_list(params -> 'query', 'properties'),
        CASE WHEN jsonb_array_length(params -> 'fields' -> 'include') > 0 THEN
            ARRAY(SELECT libs.cql2_property_name(x) FROM jsonb_array_elements_text(params -> 'fields' -> 'include') x) END);
BEGIN
    IF sel IS NOT NULL THEN
        PERFORM libs.features_check_properties(sel, kinds, 'properties');
    END IF;
    RETURN sel;
END
$$;

CREATE OR REPLACE FUNCTION libs.features_offset(params jsonb) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    raw text := coalesce(params -> 'query' ->> 'offset', regexp_replace(params ->> 'token', '^(next|prev):', ''));
BEGIN
    IF raw IS NULL OR raw = '' THEN RETURN 0; END IF;
    IF raw !~ '^\d{1,12}$' THEN
        RAISE EXCEPTION 'offset must be a non-negative integer, got %', raw USING ERRCODE = '22023';
    END IF;
    RETURN raw::bigint;
END
$$;

CREATE OR REPLACE FUNCTION api.features_list(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    meta jsonb := libs.features_collection(collection_id);
    kinds jsonb := meta -> 'kinds';
    lim int := coalesce((params ->> 'limit')::int, 10);
    off bigint := libs.features_offset(params);
    sel text[];
    cond text;
    feats jsonb;
    matched bigint;
    links jsonb;
BEGIN
    PERFORM libs.features_check_query(params -> 'query', kinds, libs.features_query_params());
    sel := libs.features_selection(params, kinds);
    cond := libs.features_where(collection_id, params, kinds);
    EXECUTE format('SELECT coalesce(jsonb_agg(libs.feature_json(q.f, $1, $2, $3)), ''[]'') FROM '
                   '(SELECT f FROM data.features f WHERE %s ORDER BY %s LIMIT %s OFFSET %s) q',
                   cond, libs.features_order_sql(params -> 'sortby', kinds), lim, off)
        INTO feats USING sel, libs.url(format('collections/%s/items/', libs.url_encode(collection_id))),
                         libs.url('collections/' || libs.url_encode(collection_id));
    EXECUTE format('SELECT count(*) FROM data.features WHERE %s', cond) INTO matched;
    links := jsonb_build_array(
        libs.link('self', libs.features_page_url(collection_id, params -> 'query', off), 'application/geo+json'),
        libs.link('collection', libs.url('collections/' || libs.url_encode(collection_id))));
    IF off + lim < matched THEN
        links := links || libs.link('next', libs.features_page_url(collection_id, params -> 'query', off + lim),
                                    'application/geo+json');
    END IF;
    IF off > 0 THEN
        links := links || libs.link('prev', libs.features_page_url(collection_id, params -> 'query',
                                                                   greatest(off - lim, 0)), 'application/geo+json');
    END IF;
    RETURN jsonb_build_object('type', 'FeatureCollection', 'features', feats, 'links', links,
        'numberMatched', matched, 'numberReturned', jsonb_array_length(feats),
        'timeStamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        || CASE WHEN params -> 'query' ? 'facetby' THEN
               jsonb_build_object('facets', libs.features_facets(collection_id, params, kinds)) ELSE '{}' END;
END
$$;
COMMENT ON FUNCTION api.features_list(text, jsonb) IS
    'GET /collections/{id}/items of a feature collection: a GeoJSON FeatureCollection with numberMatched, '
    'numberReturned, timeStamp, self/next/prev/collection links. params: bbox [4|6 numbers], datetime, limit, '
    'filter (cql2-json), sortby [{field, direction}], ids, fields, token, and "query" (the raw query parameters: '
    'offset, properties=a,b, facetby=a,b adds a "facets" member, ?queryable=value). Unknown parameters or '
    'properties: 22023. Example: SELECT api.features_list(''fields'', ''{"limit": 5, "filter": '
    '{"op": "=", "args": [{"property": "crop"}, "wheat"]}}'');';

CREATE OR REPLACE FUNCTION api.feature_get(collection_id text, feature_id text, params jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    meta jsonb := libs.features_collection(collection_id);
    out jsonb;
BEGIN
    PERFORM libs.features_check_query(params -> 'query', '{}', ARRAY['properties', 'f', 'crs', 'fields']);
    SELECT libs.feature_json(f, libs.features_selection(params, meta -> 'kinds')) INTO out
    FROM data.features f WHERE f.collection_id = feature_get.collection_id AND f.id = feature_id;
    IF out IS NULL THEN
        RAISE EXCEPTION 'no feature % in collection %', feature_id, collection_id USING ERRCODE = 'P0002';
    END IF;
    RETURN out;
END
$$;
COMMENT ON FUNCTION api.feature_get(text, text, jsonb) IS
    'GET /collections/{id}/items/{featureId} of a feature collection: one GeoJSON Feature (404 if absent).';

CREATE OR REPLACE FUNCTION libs.features_count(collection_id text, filter jsonb DEFAULT NULL,
                                               check_properties boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM data.features WHERE collection_id = %L AND %s', collection_id,
                   libs.cql2_to_sql(filter, CASE WHEN check_properties THEN collection_id END)) INTO n;
    RETURN n;
END
$$;
COMMENT ON FUNCTION libs.features_count(text, jsonb, boolean) IS
    'The number of features of a collection matching a cql2-json filter; check_properties => false reads '
    'unknown properties as absent instead of raising 22023.';
