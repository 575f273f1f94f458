-- STAC API over pgSTAC, part 2: item search (/search, /collections/{id}/items), items, queryables.
-- pgstac.search(jsonb) runs the search; these functions shape the request and add this surface's links.
-- The items routes dispatch on the collection kind: 'features' and 'hybrid' collections are served by
-- the features functions of the same shape (api.features_list, api.feature_get, api.features_queryables).

CREATE OR REPLACE FUNCTION libs.stac_bbox_geometry(bbox jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT SET search_path = pg_catalog AS $$
-- A 4- or 6-number bbox as a GeoJSON geometry; a box with minx > maxx crosses the antimeridian
-- and becomes a MultiPolygon of its two halves.
BEGIN
    RETURN (WITH b AS (
        SELECT (bbox ->> 0)::float8 AS x0, (bbox ->> 1)::float8 AS y0,
               (bbox ->> CASE jsonb_array_length(bbox) WHEN 6 THEN 3 ELSE 2 END)::float8 AS x1,
               (bbox ->> CASE jsonb_array_length(bbox) WHEN 6 THEN 4 ELSE 3 END)::float8 AS y1
    )
    SELECT CASE WHEN x0 <= x1
        THEN jsonb_build_object('type', 'Polygon', 'coordinates',
                 jsonb_build_array(jsonb_build_array(jsonb_build_array(x0, y0), jsonb_build_array(x1, y0),
                     jsonb_build_array(x1, y1), jsonb_build_array(x0, y1), jsonb_build_array(x0, y0))))
        ELSE jsonb_build_object('type', 'MultiPolygon', 'coordinates', jsonb_build_array(
                 jsonb_build_array(jsonb_build_array(jsonb_build_array(x0, y0), jsonb_build_array(180, y0),
                     jsonb_build_array(180, y1), jsonb_build_array(x0, y1), jsonb_build_array(x0, y0))),
                 jsonb_build_array(jsonb_build_array(jsonb_build_array(-180, y0), jsonb_build_array(x1, y0),
                     jsonb_build_array(x1, y1), jsonb_build_array(-180, y1), jsonb_build_array(-180, y0)))))
    END
    FROM b);
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_request_body(params jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- The STAC POST-search members of params (what a next/prev POST link repeats); nothing else passes.
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM jsonb_each(coalesce(params, '{}'))
    WHERE key IN ('ids', 'collections', 'bbox', 'intersects', 'datetime', 'filter', 'filter-lang', 'filter-crs',
                  'sortby', 'fields', 'limit', 'token', 'q', 'offset') AND jsonb_typeof(value) <> 'null');
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_pgstac_search(params jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- What pgstac.search gets: the request body, bbox as a geometry (antimeridian-safe), cql2-json filters.
-- id and collection always stay: pgSTAC's paging tokens are built from them.
BEGIN
    RETURN (SELECT (libs.stac_request_body(params) - '{bbox,filter-crs,filter-lang}'::text[])
        || CASE WHEN params ? 'fields' THEN jsonb_build_object('fields', jsonb_build_object(
               'include', coalesce(params -> 'fields' -> 'include', '[]'),
               'exclude', coalesce(params -> 'fields' -> 'exclude', '[]') - 'id' - 'collection')) ELSE '{}' END
        || CASE WHEN params ? 'bbox' AND NOT params ? 'intersects'
                THEN jsonb_build_object('intersects', libs.stac_bbox_geometry(params -> 'bbox')) ELSE '{}' END
        || CASE WHEN jsonb_typeof(params -> 'intersects') = 'object'
                THEN jsonb_build_object('intersects', libs.search_geometry(params -> 'intersects')) ELSE '{}' END
        || CASE WHEN params ? 'filter' THEN jsonb_build_object('filter-lang', 'cql2-json',
                                                               'filter', libs.stac_cql2(params -> 'filter'))
                ELSE '{}'::jsonb END);
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_count_settings(count text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
-- The transaction's settings for a search (count is kept for callers of the first release: numberMatched
-- is libs.stac_search_page's). Read-only: nothing is cached in pgstac.search_wheres.
-- No parallel workers: starting them costs more (tens of ms) than these index-driven queries take.
BEGIN
    PERFORM set_config('max_parallel_workers_per_gather', '0', true),
            set_config('client_min_messages', 'warning', true),
            set_config('pgstac.readonly', 'true', true),
            set_config('pgstac.context', 'off', true);
END
$$;

DROP FUNCTION IF EXISTS libs.stac_item(jsonb);  -- the one-argument version of the first release

-- The per-item helpers below have no SET search_path on purpose: PostgreSQL then inlines them into the
-- calling query (a SET clause forbids inlining and costs a planning round per call: ~1 ms per item).
-- They use only pg_catalog built-ins and schema-qualified functions.
CREATE OR REPLACE FUNCTION libs.stac_path_part(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value ~ '^[A-Za-z0-9._~-]*$' THEN value ELSE libs.url_encode(value) END;
$$;

CREATE OR REPLACE FUNCTION libs.stac_item_relinked(item jsonb, href text, root text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- libs.stac_item_linked's links, for an item whose hrefs are final.
    SELECT item || jsonb_build_object('links', jsonb_build_array(
            jsonb_build_object('rel', 'self', 'type', 'application/geo+json',
                               'href', href || '/items/' || libs.stac_path_part(item ->> 'id')),
            jsonb_build_object('rel', 'parent', 'type', 'application/json', 'href', href),
            jsonb_build_object('rel', 'collection', 'type', 'application/json', 'href', href),
            jsonb_build_object('rel', 'root', 'type', 'application/json', 'href', root))
        || CASE WHEN jsonb_typeof(item -> 'links') IS DISTINCT FROM 'array' OR item -> 'links' = '[]' THEN '[]'::jsonb
                ELSE jsonb_path_query_array(item -> 'links', 'strict $[*] ? (@.rel != "self" && @.rel != "parent"
                                                                           && @.rel != "collection" && @.rel != "root")')
           END);
$$;

CREATE OR REPLACE FUNCTION libs.stac_item_linked(item jsonb, href text, root text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- An item with its links (self, parent, collection, root); href: its collection's URL. The links it was
    -- stored with stay, except those of these rels; a cube time slice's relative hrefs become absolute
    -- (libs.cube_item_hrefs). One expression each, no sub-SELECT: PostgreSQL inlines them.
    SELECT libs.stac_item_relinked(libs.cube_item_hrefs(item, href), href, root);
$$;

CREATE OR REPLACE FUNCTION libs.stac_item_at(item jsonb, fields jsonb, root text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- An item with links (self, parent, collection, root) under the base URL root; its stored links stay.
    -- The fields extension may leave links out (exclude them, or include other fields only).
    SELECT CASE WHEN item ? 'id' AND item ? 'collection'
                     AND NOT coalesce(fields -> 'exclude' ? 'links', false)
                     AND (jsonb_array_length(coalesce(fields -> 'include', '[]')) = 0
                          OR fields -> 'include' ? 'links') THEN
        libs.stac_item_linked(item, root || 'collections/' || libs.stac_path_part(item ->> 'collection'), root)
    ELSE item END;
$$;

CREATE OR REPLACE FUNCTION libs.stac_item(item jsonb, fields jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- An item with this surface's links.
    SELECT libs.stac_item_at(item, fields, libs.base_url());
$$;

CREATE OR REPLACE FUNCTION libs.stac_hydrate(item jsonb, base jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- pgstac.content_hydrate's result (pgstac.merge_jsonb of the stored item and its collection's base
    -- item), merging only the few keys the base item has instead of walking the whole item; the recursive
    -- pgstac.merge_jsonb runs only where both sides are objects or arrays (assets vs item_assets).
    SELECT CASE WHEN base IS NULL THEN item ELSE
        (item - ARRAY(SELECT jsonb_object_keys(base)))
        || coalesce((SELECT jsonb_object_agg(b.key, m.v)
                     FROM jsonb_each(base) b,
                     LATERAL (SELECT CASE
                         WHEN item -> b.key = '"𒍟※"'::jsonb THEN NULL
                         WHEN item -> b.key IS NULL OR jsonb_typeof(item -> b.key) = 'null' THEN b.value
                         WHEN jsonb_typeof(item -> b.key) IN ('object', 'array')
                              AND jsonb_typeof(item -> b.key) = jsonb_typeof(b.value)
                              THEN pgstac.merge_jsonb(item -> b.key, b.value)
                         ELSE item -> b.key END AS v) m
                     WHERE m.v IS NOT NULL AND jsonb_typeof(m.v) <> 'null'), '{}')
    END;
$$;

DROP FUNCTION IF EXISTS libs.stac_bases(text[]);
CREATE OR REPLACE FUNCTION libs.stac_bases(ids text[], root text)
RETURNS TABLE (id text, base_item jsonb, scalars jsonb, has_containers boolean, href text)
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- The base items of these collections, with their scalar members (not null) and whether any member is an
-- object or array (then items hydrate key by key, libs.stac_hydrate), and each collection's URL under root.
BEGIN
    RETURN QUERY
    SELECT c.id, c.base_item,
           (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') FROM jsonb_each(c.base_item) e
            WHERE jsonb_typeof(e.value) NOT IN ('object', 'array', 'null')),
           jsonb_path_exists(c.base_item, 'strict $.* ? (@.type() == "object" || @.type() == "array")'),
           root || 'collections/' || libs.stac_path_part(c.id)
    FROM pgstac.collections c WHERE c.id = ANY (ids);
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_search_links(res jsonb, path text, params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- self/root and next/prev links; GET links repeat the request's query, POST links its body. self is the request
-- as made (offset and token included: following it gives the same page); next/prev carry the page's token in
-- place of token and offset (a token continues from the page's last/first item, wherever the page began).
-- Tokens: res.next / res.prev (libs.stac_search_page), or pgSTAC-style links whose href ends in
-- ?token=... (libs.features_search builds those).
BEGIN
    RETURN (WITH t AS (
        SELECT rel, res ->> rel AS token FROM unnest(ARRAY['next', 'prev']) rel WHERE res ? rel
        UNION ALL
        SELECT l ->> 'rel', substring(l ->> 'href' FROM 'token=(.*)$')
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(res -> 'links') = 'array' THEN res -> 'links' END) l
        WHERE l ->> 'rel' IN ('next', 'prev') AND NOT res ? (l ->> 'rel')
    ), post AS (SELECT params ->> 'method' = 'POST' AS is_post, libs.stac_request_body(params) AS body)
    SELECT jsonb_build_array(
               CASE WHEN post.is_post THEN libs.link('self', libs.url(path), 'application/geo+json', NULL, 'POST')
                                           || jsonb_build_object('body', post.body)
                    ELSE libs.link('self', libs.url_with_query(path, coalesce(params -> 'query', '{}')
                             || CASE WHEN params ->> 'token' <> '' THEN jsonb_build_object('token', params ->> 'token')
                                     ELSE '{}' END), 'application/geo+json') END,
               libs.link('root', libs.url(''), 'application/json', 'Root catalog'))
        || coalesce((SELECT jsonb_agg(CASE WHEN post.is_post
                        THEN libs.link(t.rel, libs.url(path), 'application/geo+json', NULL, 'POST')
                             || jsonb_build_object('body', (post.body - 'offset') || jsonb_build_object('token', t.token))
                        ELSE libs.link(t.rel, libs.url_with_query(path, (coalesce(params -> 'query', '{}') - 'offset')
                                 || jsonb_build_object('token', t.token)), 'application/geo+json', NULL, 'GET')
                        END ORDER BY t.rel) FROM t), '[]')
    FROM post);
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_search(params jsonb, path text, extra_links jsonb DEFAULT '[]')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    res jsonb;
    root text := libs.base_url();
BEGIN
    PERFORM libs.stac_count_settings(params ->> 'count');
    PERFORM libs.stac_check_sortby(params -> 'sortby', params -> 'collections');
    -- pgSTAC's pieces find the items (libs.stac_search_page); they come back dehydrated and are hydrated
    -- here, key by key (faster than pgstac.content_hydrate).
    res := libs.stac_search_page(libs.stac_pgstac_search(params), params ->> 'count');
    RETURN jsonb_build_object(
        'type', 'FeatureCollection',
        'features', coalesce((
            SELECT jsonb_agg(CASE WHEN params ? 'fields'
                                  THEN libs.stac_item_at(pgstac.jsonb_fields(libs.cube_item_hrefs(h.item, c.href),
                                                                             params -> 'fields'),
                                                         params -> 'fields', root)
                                  WHEN s.f ? 'id' AND c.href IS NOT NULL THEN libs.stac_item_linked(h.item, c.href, root)
                                  ELSE h.item END ORDER BY n)
            FROM jsonb_array_elements(res -> 'features') WITH ORDINALITY AS s(f, n)
            LEFT JOIN libs.stac_bases(ARRAY(SELECT DISTINCT e ->> 'collection'
                                            FROM jsonb_array_elements(res -> 'features') e), root) c
                   ON c.id = s.f ->> 'collection',
            -- once per item; a base item of scalars only (no item_assets) merges by one concatenation when the
            -- stored item has no null and no deleted-key marker at its top level
            LATERAL (SELECT CASE WHEN c.base_item IS NOT NULL AND NOT c.has_containers
                                      AND NOT jsonb_path_exists(s.f, 'strict $.* ? (@ == null || @ == "𒍟※")')
                                 THEN c.scalars || s.f
                                 ELSE libs.stac_hydrate(s.f, c.base_item) END AS item OFFSET 0) h), '[]'),
        'links', libs.stac_search_links(res, path, params) || extra_links,
        'numberReturned', res -> 'numberReturned')
        || CASE WHEN res ? 'numberMatched' THEN jsonb_build_object('numberMatched', res -> 'numberMatched')
                ELSE '{}' END;
END
$$;

CREATE OR REPLACE FUNCTION api.search(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    -- A search of exactly one 'features' collection searches its features (libs.features_search); the
    -- features of a hybrid stay at /collections/{id}/items, its /search items are the cube's time slices.
    IF jsonb_typeof(params -> 'collections') = 'array' AND jsonb_array_length(params -> 'collections') = 1
       AND EXISTS (SELECT 1 FROM data.collection_meta m
                   WHERE m.collection_id = params -> 'collections' ->> 0 AND m.kind = 'features') THEN
        RETURN libs.features_search(params -> 'collections' ->> 0, params, 'search');
    END IF;
    RETURN libs.stac_search(params, 'search');
END
$$;
COMMENT ON FUNCTION api.search(jsonb) IS
    'GET/POST /search: STAC item search. params: the STAC POST body (bbox, intersects, datetime, ids, '
    'collections, limit, filter as cql2-json, sortby, fields, token), plus method (GET|POST), query (the raw '
    'GET parameters, repeated in next/prev links) and count (exact|planned). A search of exactly one '
    'features collection returns its features (as STAC items). Example: '
    'SELECT api.search(''{"collections": ["demo-stac"], "limit": 2}'');';

CREATE OR REPLACE FUNCTION libs.stac_items_list(collection_id text, params jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
    SELECT libs.stac_search(
        (params - 'method') || jsonb_build_object('collections', jsonb_build_array(collection_id)),
        'collections/' || libs.url_encode(collection_id) || '/items',
        jsonb_build_array(libs.link('collection', libs.url('collections/' || libs.url_encode(collection_id))),
                          libs.link('parent', libs.url('collections/' || libs.url_encode(collection_id)))));
$$;

-- A 400 naming the GET parameters /collections/{id}/items of a STAC (or cube) collection does not define (OGC
-- API Features answers those with a 400, as the items of feature collections do): ?eo:cloud_cover=5 is no
-- filter on STAC items (/api declares no such parameter for them); filter=eo:cloud_cover = 5 is.
CREATE OR REPLACE FUNCTION libs.stac_items_check_query(query jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    allowed text[] := ARRAY['bbox', 'intersects', 'datetime', 'ids', 'collections', 'limit', 'offset', 'token',
                            'filter', 'filter-lang', 'filter-crs', 'sortby', 'fields', 'f'];
    unknown text[];
BEGIN
    SELECT array_agg(k ORDER BY k) INTO unknown FROM jsonb_object_keys(coalesce(query, '{}')) k
    WHERE k <> ALL (allowed);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown query parameter(s) for the items of a STAC collection: %',
            array_to_string(unknown, ', ') USING ERRCODE = '22023',
            HINT = format('allowed: %s; to select items by a property use filter (CQL2), e.g. filter=%s = ''value''',
                          array_to_string(allowed, ', '), unknown[1]);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION api.items_list(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    IF libs.collection_kind(collection_id) IN ('features', 'hybrid') THEN
        RETURN api.features_list(collection_id, params);
    END IF;
    PERFORM libs.stac_items_check_query(params -> 'query');
    RETURN libs.stac_items_list(collection_id, params);
END
$$;
COMMENT ON FUNCTION api.items_list(text, jsonb) IS
    'GET /collections/{collectionId}/items: the items of a STAC or cube collection (pgSTAC), or the '
    'features of a features/hybrid collection (api.features_list). params as for api.search.';

CREATE OR REPLACE FUNCTION libs.stac_item_get(collection_id text, item_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    item jsonb := pgstac.get_item(item_id, collection_id);
BEGIN
    IF item IS NULL THEN
        RAISE EXCEPTION 'item % not found in collection %', item_id, collection_id
            USING ERRCODE = 'P0002', HINT = 'GET /collections/' || collection_id || '/items lists its items';
    END IF;
    RETURN libs.stac_item(item);
END
$$;

CREATE OR REPLACE FUNCTION api.item_get(collection_id text, item_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    kind text := libs.collection_kind(collection_id);
BEGIN
    -- A hybrid holds features (its /items) and the cube's time slices (pgSTAC items, what /search returns):
    -- a feature of that id wins, else the time slice, so the self links of /search results resolve.
    IF kind = 'features' OR (kind = 'hybrid' AND (
            EXISTS (SELECT 1 FROM data.features f WHERE f.collection_id = item_get.collection_id AND f.id = item_id)
            OR NOT EXISTS (SELECT 1 FROM pgstac.items i
                           WHERE i.collection = item_get.collection_id AND i.id = item_id))) THEN
        RETURN api.feature_get(collection_id, item_id, params);
    END IF;
    RETURN libs.stac_item_get(collection_id, item_id);
END
$$;
COMMENT ON FUNCTION api.item_get(text, text, jsonb) IS
    'GET /collections/{collectionId}/items/{itemId}: one STAC item (or one feature of a features/hybrid '
    'collection, via api.feature_get), with its links. In a hybrid, a feature of that id wins; else the '
    'cube''s time-slice item of that id (pgSTAC), which /search returns.';

CREATE OR REPLACE FUNCTION libs.stac_queryables(doc jsonb, path text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT coalesce(doc, '{"type": "object", "properties": {}, "additionalProperties": true}')
        || jsonb_build_object('$schema', 'https://json-schema.org/draft/2019-09/schema',
                              '$id', libs.url(path), 'title', 'Queryables');
$$;

CREATE OR REPLACE FUNCTION api.queryables(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pgstac, public AS $$
    SELECT libs.stac_queryables(pgstac.get_queryables(NULL::text[]), 'queryables');
$$;
COMMENT ON FUNCTION api.queryables(jsonb) IS
    'GET /queryables: the properties a /search filter may use, as a JSON Schema (draft 2019-09).';

CREATE OR REPLACE FUNCTION api.collection_queryables(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    IF libs.collection_kind(collection_id) IN ('features', 'hybrid') THEN
        RETURN api.features_queryables(collection_id, params);
    END IF;
    RETURN libs.stac_queryables(pgstac.get_queryables(ARRAY[collection_id]),
                                'collections/' || libs.url_encode(collection_id) || '/queryables');
END
$$;
COMMENT ON FUNCTION api.collection_queryables(text, jsonb) IS
    'GET /collections/{collectionId}/queryables: what a filter on this collection''s items may use '
    '(JSON Schema draft 2019-09); features/hybrid collections answer via api.features_queryables.';
