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
    -- collections and intersects: STAC clients send them too (pystac-client: GET .../items?collections=id)
    SELECT ARRAY['bbox', 'bbox-crs', 'datetime', 'limit', 'offset', 'token', 'filter', 'filter-lang', 'filter-crs',
                 'sortby', 'properties', 'fields', 'facetby', 'ids', 'f', 'crs', 'collections', 'intersects'];
$$;

-- Raises a 400 naming the query parameters that are neither known nor queryables, or whose value cannot be of
-- the queryable's kind (?ph=abc on a number, ?sowing_date=AAA on a date).
CREATE OR REPLACE FUNCTION libs.features_check_query(query jsonb, kinds jsonb, allowed text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    unknown text[];
    bad record;
BEGIN
    SELECT array_agg(k ORDER BY k) INTO unknown FROM jsonb_object_keys(coalesce(query, '{}')) k
    WHERE k <> ALL (allowed) AND NOT kinds ? k;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown query parameter(s): %', array_to_string(unknown, ', ') USING ERRCODE = '22023',
            HINT = format('allowed: %s, or a queryable property name (?name=value)', array_to_string(allowed, ', '));
    END IF;
    SELECT q.key, q.value, kinds ->> q.key AS kind INTO bad FROM jsonb_each_text(coalesce(query, '{}')) q
    WHERE q.key <> ALL (allowed) AND NOT libs.query_value_fits(q.value, kinds ->> q.key)
    ORDER BY q.key LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'query parameter %: % is not %', bad.key, to_jsonb(left(bad.value, 80)),
            libs.kind_phrase(bad.kind) USING ERRCODE = '22023',
            HINT = format('%s is a queryable of type %s (GET the collection''s queryables); ?%s=value keeps the '
                          'features whose %s equals the value', bad.key, bad.kind, bad.key, bad.key);
    END IF;
END
$$;

-- What a value of a kind looks like, for messages: 'a number', 'an RFC 3339 date (YYYY-MM-DD)', ...
CREATE OR REPLACE FUNCTION libs.kind_phrase(kind text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE kind
        WHEN 'integer' THEN 'an integer (e.g. 42)'
        WHEN 'number' THEN 'a number (e.g. 6.5)'
        WHEN 'boolean' THEN 'true or false'
        WHEN 'date' THEN 'an RFC 3339 date (YYYY-MM-DD, e.g. 2024-05-01)'
        WHEN 'date-time' THEN 'an RFC 3339 date-time (e.g. 2024-05-01T12:00:00Z) or date (2024-05-01)'
        ELSE 'a ' || coalesce(kind, 'value') END;
$$;

-- The kind of a query string value (?name=value): integer or number when it is written as a number, boolean
-- for true/false, date or date-time when it is a valid one, else string.
CREATE OR REPLACE FUNCTION libs.query_value_kind(value text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    kind text;
BEGIN
    IF value ~ '^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})?$' THEN
        RETURN libs.jsonb_kind(to_jsonb(value::numeric));
    ELSIF lower(value) IN ('true', 'false') THEN
        RETURN 'boolean';
    END IF;
    kind := libs.jsonb_kind(to_jsonb(value));
    IF kind IN ('date', 'date-time') THEN
        PERFORM value::timestamptz;  -- 2024-02-30 has the shape of a date, but is none
    END IF;
    RETURN kind;
EXCEPTION WHEN data_exception THEN
    RETURN 'string';
END
$$;

-- Whether ?name=value can match a queryable of this kind: any value for a string (or mixed, array, object:
-- they are compared as text), a value whose own kind the queryable's kind covers for the others (an integer
-- for a number, a date for a date-time; not 1.5 for an integer, not a date-time for a date).
CREATE OR REPLACE FUNCTION libs.query_value_fits(value text, kind text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT kind IS NULL OR kind NOT IN ('integer', 'number', 'boolean', 'date', 'date-time')
        OR libs.kind_merge(kind, libs.query_value_kind(value)) = kind;
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

-- ?name=value for queryables: equality of the property and the value read as the queryable's kind (numbers
-- by value: ?ph=7.0 matches 7; booleans: TRUE matches true; date-times as instants), else as text.
-- libs.features_check_query has checked that each value fits its kind.
CREATE OR REPLACE FUNCTION libs.features_query_equals_sql(query jsonb, kinds jsonb, allowed text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT coalesce(string_agg(CASE WHEN NOT libs.query_value_fits(value, kinds ->> key)
                                    THEN 'FALSE'
                                    WHEN kinds ->> key IN ('integer', 'number')
                                    THEN format('(properties -> %L) = to_jsonb(%L::numeric)', key, value)
                                    WHEN kinds ->> key = 'boolean'
                                    THEN format('(properties -> %L) = to_jsonb(%L::boolean)', key, lower(value))
                                    WHEN kinds ->> key = 'date-time'
                                    THEN format('libs.jsonb_timestamptz(properties -> %L) = %L::timestamptz',
                                                key, value)
                                    ELSE format('libs.jsonb_text(properties -> %L) = %L', key, value) END,
                               ' AND '), 'TRUE')
    FROM jsonb_each_text(coalesce(query, '{}'))
    WHERE key <> ALL (allowed) AND kinds ? key;
$$;

-- "This collection's features" as SQL over data.features: the id and its integer key, which leads the GiST
-- indexes on geom and geom_3857 (migration 220: a text key made bulk inserts twice as expensive). A spatial
-- condition ANDed to this uses those indexes; without the key condition it would not.
CREATE OR REPLACE FUNCTION libs.features_collection_sql(collection_id text, alias text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT format('%1$scollection_id = %2$L AND pg_catalog.hashtext(%1$scollection_id) = %3$s',
                  CASE WHEN alias IS NOT NULL THEN quote_ident(alias) || '.' ELSE '' END,
                  collection_id, hashtext(collection_id));
$$;
COMMENT ON FUNCTION libs.features_collection_sql(text, text) IS
    'SQL condition selecting one collection''s rows of data.features (optionally alias-qualified), including '
    'the key hashtext(collection_id) that leads the spatial indexes: AND a spatial condition to it.';

-- The WHERE clause of an items request: collection, bbox, datetime, ids, ?queryable=value, filter.
CREATE OR REPLACE FUNCTION libs.features_where(collection_id text, params jsonb, kinds jsonb,
                                               skip_filter boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    b jsonb := params -> 'bbox';
    n int := coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(b) = 'array' THEN b END), 0);
BEGIN
    RETURN concat_ws(' AND ',
        libs.features_collection_sql(collection_id),
        CASE WHEN n IN (4, 6) THEN format('public.st_intersects(geom, %s)', libs.bbox_geom_sql(
            (b ->> 0)::float8, (b ->> 1)::float8, (b ->> (n / 2))::float8, (b ->> (n / 2 + 1))::float8)) END,
        libs.features_datetime_sql(params ->> 'datetime'),
        CASE WHEN jsonb_typeof(params -> 'intersects') = 'object' THEN format(
            'public.st_intersects(geom, public.st_setsrid(public.st_geomfromgeojson(%L::text), 4326))',
            libs.search_geometry(params -> 'intersects')) END,
        CASE WHEN jsonb_typeof(params -> 'ids') = 'array' THEN
            format('id = ANY(%L::text[])', ARRAY(SELECT jsonb_array_elements_text(params -> 'ids'))) END,
        libs.features_query_equals_sql(params -> 'query', kinds, libs.features_query_params()),
        CASE WHEN NOT skip_filter THEN libs.cql2_to_sql(params -> 'filter', collection_id) END);
END
$$;
COMMENT ON FUNCTION libs.features_where(text, jsonb, jsonb, boolean) IS
    'SQL WHERE clause over data.features for an items request (bbox, intersects, datetime, ids, ?queryable=value, '
    'filter).';

-- The ORDER BY of a page is libs.features_order_keys_sql(libs.features_sort_keys(...)) (api/features_paging.sql).
DROP FUNCTION IF EXISTS libs.features_order_sql(jsonb, jsonb);

-- The list builder of before features became STAC Items, superseded by libs.feature_stac (api/features_stac.sql).
DROP FUNCTION IF EXISTS libs.feature_json(data.features, text[], text, text);

-- One stored feature as GeoJSON (and a STAC Item: libs.feature_stac in api/features_stac.sql), with only
-- the selected properties when `sel` is given. Lists call libs.feature_stac with the URLs computed once.
CREATE OR REPLACE FUNCTION libs.feature_json(f data.features, sel text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
    SELECT libs.feature_stac(f, sel, libs.features_collection_href(f.collection_id), libs.url(''));
$$;

-- The URL of a page of items: the collection's items with this query.
DROP FUNCTION IF EXISTS libs.features_page_url(text, jsonb, bigint);
CREATE OR REPLACE FUNCTION libs.features_page_url(collection_id text, query jsonb) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.url_with_query(format('collections/%s/items', libs.url_encode(collection_id)), query);
$$;

-- The properties an items request selects: ?properties=a,b, else the fields extension's include (its STAC
-- top-level members are always there; 'properties' means all; 'properties.a' or 'a' name a property),
-- checked against the queryables. NULL: all properties.
CREATE OR REPLACE FUNCTION libs.features_selection(params jsonb, kinds jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    inc jsonb := params -> 'fields' -> 'include';
    sel text[] := libs.query_list(params -> 'query', 'properties');
BEGIN
    IF sel IS NULL AND jsonb_typeof(inc) = 'array' AND jsonb_array_length(inc) > 0 AND NOT inc ? 'properties' THEN
        sel := ARRAY(SELECT libs.cql2_property_name(x) FROM jsonb_array_elements_text(inc) x
                     WHERE x NOT IN ('type', 'stac_version', 'stac_extensions', 'id', 'collection', 'geometry',
                                     'bbox', 'links', 'assets'));
    END IF;
    IF sel IS NOT NULL THEN
        PERFORM libs.features_check_properties(array_remove(sel, 'start_datetime'), kinds, 'properties');
    END IF;
    RETURN sel;
END
$$;

-- ?offset=n: OGC API Features allows it and some clients send it; paging links carry tokens instead.
CREATE OR REPLACE FUNCTION libs.features_offset(params jsonb) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    raw text := coalesce(params ->> 'offset', params -> 'query' ->> 'offset');   -- POST /search: a body member
BEGIN
    IF raw IS NULL OR raw = '' THEN RETURN 0; END IF;
    IF raw !~ '^\d{1,12}$' THEN
        RAISE EXCEPTION 'offset must be a non-negative integer, got %', raw USING ERRCODE = '22023';
    END IF;
    RETURN raw::bigint;
END
$$;

-- Whether any matching feature lies after (before) the sort key values `vals`.
CREATE OR REPLACE FUNCTION libs.features_beyond(cond text, keys jsonb, vals jsonb, after boolean) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    found boolean;
BEGIN
    IF vals IS NULL THEN RETURN false; END IF;
    EXECUTE format('SELECT EXISTS (SELECT FROM data.features WHERE %s AND %s)', cond,
                   libs.features_keyset_sql(keys, vals, after)) INTO found;
    RETURN found;
END
$$;

-- The number of features matching a WHERE clause (libs.features_where).
CREATE OR REPLACE FUNCTION libs.features_count_where(cond text) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM data.features WHERE %s', cond) INTO n;
    RETURN n;
END
$$;

-- One page of a feature collection's items, without links: {"features", "numberMatched", "numberReturned",
-- "limit", "next", "prev"} (next/prev: paging tokens, api/features_paging.sql; + "facets" with ?facetby=).
-- Shared by /collections/{id}/items and /search. A token continues after (next:) or before (prev:) the
-- feature it names; ?offset=n skips n features more. One row more than the page tells whether there is
-- more in the page's direction; an EXISTS probe looks the other way.
CREATE OR REPLACE FUNCTION libs.features_page(collection_id text, params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    meta jsonb := libs.features_collection(collection_id);
    kinds jsonb := meta -> 'kinds';
    lim int := coalesce((params ->> 'limit')::int, 10);
    off bigint := libs.features_offset(params);
    keys jsonb;
    signature text;
    tok jsonb := '{}';
    forward boolean := true;   -- next: read on from the token; prev: read backwards from it
    sel text[];
    cond text;
    feats jsonb;
    vals jsonb;                -- the sort key values of the page's features
    more boolean;              -- a feature beyond the page in its direction
    back boolean;              -- a feature beyond the page against its direction
BEGIN
    PERFORM libs.features_check_query(params -> 'query', kinds, libs.features_query_params());
    PERFORM libs.features_check_sortby(collection_id, params -> 'sortby', kinds);
    keys := libs.features_sort_keys(params -> 'sortby', kinds);
    signature := libs.features_sort_signature(collection_id, keys);
    sel := libs.features_selection(params, kinds);
    cond := libs.features_where(collection_id, params, kinds);
    IF coalesce(params ->> 'token', '') <> '' THEN
        tok := libs.features_token_read(params ->> 'token', signature, jsonb_array_length(keys));
        off := off + coalesce((tok ->> 'offset')::bigint, 0);
        forward := coalesce(tok ->> 'dir', 'next') = 'next';
    END IF;
    -- the URLs every feature links to are computed once here, not per feature
    -- (SELECT f.* ...) f, not a whole-row column: the inlined builder then reads plain columns
    EXECUTE format('SELECT coalesce(jsonb_agg(libs.feature_stac(f, $1, $2, $3)), ''[]''), '
                   'coalesce(jsonb_agg(%s), ''[]'') FROM (SELECT f.* FROM '
                   '(SELECT f.* FROM data.features f WHERE %s AND %s ORDER BY %s LIMIT %s OFFSET %s) f %s) f',
                   libs.features_key_values_sql(keys), cond,
                   CASE WHEN tok ? 'values' THEN libs.features_keyset_sql(keys, tok -> 'values', forward) ELSE 'TRUE' END,
                   libs.features_order_keys_sql(keys, NOT forward), lim + 1, off,
                   CASE WHEN forward THEN '' ELSE 'ORDER BY ' || libs.features_order_keys_sql(keys) END)
        INTO feats, vals USING sel, libs.features_collection_href(collection_id), libs.url('');
    more := jsonb_array_length(feats) > lim;
    IF more THEN   -- drop the extra feature: the last one, or the first of a page read backwards
        feats := feats - CASE WHEN forward THEN lim ELSE 0 END;
        vals := vals - CASE WHEN forward THEN lim ELSE 0 END;
    END IF;
    -- an empty page keeps the token's place
    IF forward THEN
        back := (tok ? 'values' OR off > 0)
                AND libs.features_beyond(cond, keys, coalesce(vals -> 0, tok -> 'values'), false);
    ELSE
        back := libs.features_beyond(cond, keys, coalesce(vals -> -1, tok -> 'values'), true);
    END IF;
    RETURN jsonb_build_object('features', feats, 'numberReturned', jsonb_array_length(feats), 'limit', lim,
            'numberMatched', libs.features_count_where(cond),
            'next', CASE WHEN (forward AND more) OR (NOT forward AND back)
                         THEN libs.features_token('next', coalesce(vals -> -1, tok -> 'values'), signature) END,
            'prev', CASE WHEN (forward AND back) OR (NOT forward AND more)
                         THEN libs.features_token('prev', coalesce(vals -> 0, tok -> 'values'), signature) END)
        || CASE WHEN params -> 'query' ? 'facetby' THEN
               jsonb_build_object('facets', libs.features_facets(collection_id, params, kinds)) ELSE '{}' END;
END
$$;

CREATE OR REPLACE FUNCTION api.features_list(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    page jsonb := libs.features_page(collection_id, params);
    query jsonb := coalesce(params -> 'query', '{}') - 'token';
    coll_href text := libs.features_collection_href(collection_id);
    links jsonb;
BEGIN
    links := jsonb_build_array(
        libs.link('self', libs.features_page_url(collection_id,
                  query || CASE WHEN params ->> 'token' <> '' THEN jsonb_build_object('token', params ->> 'token')
                                ELSE '{}' END),
                  'application/geo+json'),
        libs.link('root', libs.url(''), 'application/json'),
        libs.link('parent', coll_href, 'application/json'),
        libs.link('collection', coll_href, 'application/json'));
    -- next/prev: the request's own query with the page's token in place of token and offset
    SELECT links || coalesce(jsonb_agg(libs.link(rel, libs.features_page_url(collection_id,
               (query - 'offset') || jsonb_build_object('token', page ->> rel)), 'application/geo+json')
               ORDER BY rel), '[]')
    INTO links FROM unnest(ARRAY['next', 'prev']) rel WHERE page ->> rel IS NOT NULL;
    RETURN jsonb_build_object('type', 'FeatureCollection', 'features', page -> 'features', 'links', links,
        'numberMatched', page -> 'numberMatched', 'numberReturned', page -> 'numberReturned',
        'timeStamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        || CASE WHEN page ? 'facets' THEN jsonb_build_object('facets', page -> 'facets') ELSE '{}' END;
END
$$;
COMMENT ON FUNCTION api.features_list(text, jsonb) IS
    'GET /collections/{id}/items of a feature collection: a GeoJSON FeatureCollection (also a STAC '
    'ItemCollection of STAC Items) with numberMatched, numberReturned, timeStamp, self/root/parent/collection/'
    'next/prev links. params: bbox [4|6 numbers], intersects (GeoJSON geometry), datetime, limit, '
    'filter (cql2-json), sortby [{field, direction}], ids, fields, token (from a next/prev link: keyset '
    'paging, api/features_paging.sql), and "query" (the raw query parameters: offset, properties=a,b, '
    'facetby=a,b adds a "facets" member, ?queryable=value). Unknown parameters, properties or malformed '
    'tokens: 22023. Example: SELECT api.features_list(''fields'', ''{"limit": 5, "filter": '
    '{"op": "=", "args": [{"property": "crop"}, "wheat"]}}'');';

-- /search restricted to one 'features' collection (api.search dispatches here): the same page as
-- api.features_list, with the STAC search links (GET: the query + token; POST: the body + token).
CREATE OR REPLACE FUNCTION libs.features_search(collection_id text, params jsonb, path text) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    page jsonb := libs.features_page(collection_id, params);
BEGIN
    RETURN jsonb_build_object('type', 'FeatureCollection', 'features', page -> 'features',
        -- {"next": token, "prev": token}, as libs.stac_search_links reads them (self keeps the offset; in
        -- next/prev the page's token replaces it)
        'links', libs.stac_search_links(jsonb_strip_nulls(jsonb_build_object('next', page -> 'next',
                                                                             'prev', page -> 'prev')), path, params),
        'numberMatched', page -> 'numberMatched', 'numberReturned', page -> 'numberReturned');
END
$$;
COMMENT ON FUNCTION libs.features_search(text, jsonb, text) IS
    'STAC item search over the features of one feature collection (api.search with collections = [that one]): '
    'params as for api.search; paging tokens next:... / prev:... (api/features_paging.sql).';

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
    EXECUTE format('SELECT count(*) FROM data.features WHERE %s AND %s', libs.features_collection_sql(collection_id),
                   libs.cql2_to_sql(filter, CASE WHEN check_properties THEN collection_id END)) INTO n;
    RETURN n;
END
$$;
COMMENT ON FUNCTION libs.features_count(text, jsonb, boolean) IS
    'The number of features of a collection matching a cql2-json filter; check_properties => false reads '
    'unknown properties as absent instead of raising 22023.';
