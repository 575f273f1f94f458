-- STAC API over pgSTAC, part 1: the shared helpers (collection kind, query strings, links) and collections.
-- pgSTAC does the heavy lifting (pgstac.collection_search, pgstac.get_collection); these functions add the
-- links of the surface the request came in on. Items and search: stac_items.sql; writes: stac_write.sql.

CREATE OR REPLACE FUNCTION libs.collection_kind(collection_id text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    k text;
BEGIN
    SELECT coalesce(m.kind, 'stac') INTO k
    FROM pgstac.collections c LEFT JOIN data.collection_meta m ON m.collection_id = c.id
    WHERE c.id = collection_kind.collection_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'collection % not found', collection_id
            USING ERRCODE = 'P0002', HINT = 'GET /collections lists the collections';
    END IF;
    RETURN k;
END
$$;
COMMENT ON FUNCTION libs.collection_kind(text) IS
    'The kind of a collection (stac, features, cube, hybrid; stac when data.collection_meta has no row). '
    'Raises P0002 (404) when the collection does not exist.';

-- Hot helpers are PL/pgSQL (its plans are cached per session) or inlinable one-expression SQL (no SET clause,
-- only pg_catalog built-ins and schema-qualified calls): a SQL function that cannot be inlined is parsed and
-- planned again on every statement that calls it, which cost ~0.1-0.4 ms per helper per request.
CREATE OR REPLACE FUNCTION libs.url_encode(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT SET search_path = pg_catalog AS $$
-- RFC 3986 percent-encoding of everything but the unreserved characters. The characters query values
-- usually hold (dates, bboxes, CQL2) are replaced by replace() calls; only what is left (other
-- punctuation, non-ASCII letters) goes character by character.
DECLARE
    v text;
BEGIN
    IF value ~ '^[A-Za-z0-9._~-]*$' THEN
        RETURN value;
    END IF;
    v := replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
         replace(replace(replace(replace(replace(
             value, '%', '%25'), ':', '%3A'), '/', '%2F'), ',', '%2C'), ' ', '%20'), '+', '%2B'),
             '=', '%3D'), '&', '%26'), '''', '%27'), '"', '%22'), '(', '%28'), ')', '%29'), '<', '%3C'),
             '>', '%3E'), '[', '%5B'), ']', '%5D'), '?', '%3F');
    IF v ~ '^[A-Za-z0-9._~%-]*$' THEN
        RETURN v;
    END IF;
    RETURN (SELECT coalesce(string_agg(
                CASE WHEN ch ~ '^[A-Za-z0-9._~-]$' THEN ch
                     ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\1', 'g')) END,
                '' ORDER BY n), '')
            FROM regexp_split_to_table(value, '') WITH ORDINALITY AS t(ch, n));
END
$$;

CREATE OR REPLACE FUNCTION libs.query_string(query jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- {"a": "1", "b": "x y"} -> 'a=1&b=x%20y' (values that are not strings are written as JSON).
BEGIN
    RETURN (SELECT coalesce(string_agg(libs.url_encode(key) || '=' ||
                                       libs.url_encode(CASE jsonb_typeof(value) WHEN 'string' THEN value #>> '{}'
                                                            ELSE value::text END), '&' ORDER BY key), '')
            FROM jsonb_each(coalesce(query, '{}')) WHERE jsonb_typeof(value) <> 'null');
END
$$;

CREATE OR REPLACE FUNCTION libs.url_with_query(path text, query jsonb) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT libs.url(path) || CASE WHEN coalesce(query, '{}') = '{}' THEN '' ELSE '?' || libs.query_string(query) END;
$$;

CREATE OR REPLACE FUNCTION libs.json_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- RFC 7396 JSON Merge Patch: objects merge recursively, null removes a member, anything else replaces.
    SELECT CASE
        WHEN jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN patch
        WHEN jsonb_typeof(target) IS DISTINCT FROM 'object' THEN libs.json_merge_patch('{}', patch)
        ELSE (
            SELECT coalesce(jsonb_object_agg(key, value), '{}')
            FROM (
                SELECT t.key, t.value FROM jsonb_each(target) t WHERE NOT patch ? t.key
                UNION ALL
                SELECT p.key, libs.json_merge_patch(target -> p.key, p.value)
                FROM jsonb_each(patch) p WHERE jsonb_typeof(p.value) <> 'null'
            ) merged)
    END;
$$;
COMMENT ON FUNCTION libs.json_merge_patch(jsonb, jsonb) IS 'RFC 7396 JSON Merge Patch of target by patch.';

CREATE OR REPLACE FUNCTION libs.stac_kind_links(collection_id text, kind text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- The links every collection of this kind carries, registered in data.collection_links.
    SELECT coalesce(jsonb_agg(libs.link(l.rel, libs.url(replace(l.path, '{id}', libs.url_encode(collection_id))),
                                        l.type, l.title) ORDER BY l.ord, l.rel), '[]')
    FROM data.collection_links l WHERE l.kind = coalesce(stac_kind_links.kind, 'stac');
$$;

DROP FUNCTION IF EXISTS libs.stac_collection(jsonb, text);  -- the two-argument version of the first release
CREATE OR REPLACE FUNCTION libs.stac_collection(content jsonb, kind text, with_defaults boolean DEFAULT true)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- A stored collection document with the links of this surface: self, root, parent, the links of its
    -- kind; the links it was stored with stay, except those whose rel we generate. Members a STAC
    -- collection must have get defaults when the stored document lacks them. Cubes and hybrids get their
    -- data asset and web-map links here (libs.cube_collection_at).
    WITH doc AS (SELECT libs.cube_collection_at(content, kind) AS content), ours AS (
        SELECT jsonb_build_array(
                   libs.link('self', libs.url('collections/' || libs.url_encode(doc.content ->> 'id'))),
                   libs.link('root', libs.url(''), 'application/json', 'Root catalog'),
                   libs.link('parent', libs.url(''), 'application/json', 'Root catalog'))
               || libs.stac_kind_links(doc.content ->> 'id', kind) AS links
        FROM doc
    )
    SELECT CASE WHEN with_defaults THEN
               jsonb_build_object('type', 'Collection', 'stac_version', '1.0.0', 'description', content ->> 'id',
                                  'license', 'other',
                                  'extent', '{"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                              "temporal": {"interval": [[null, null]]}}'::jsonb)
               ELSE '{}' END
        || doc.content || jsonb_build_object('links', ours.links || coalesce((
        SELECT jsonb_agg(l ORDER BY n)
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc.content -> 'links') = 'array'
                                       THEN doc.content -> 'links' ELSE '[]' END) WITH ORDINALITY AS s(l, n)
        WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(ours.links) o WHERE o ->> 'rel' = l ->> 'rel')
    ), '[]'))
    FROM doc, ours;
$$;

CREATE OR REPLACE FUNCTION libs.stac_collection_by_id(collection_id text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.stac_collection(c.content, coalesce(m.kind, 'stac'))
    FROM pgstac.collections c LEFT JOIN data.collection_meta m ON m.collection_id = c.id
    WHERE c.id = stac_collection_by_id.collection_id;
$$;

CREATE OR REPLACE FUNCTION api.collection_get(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    out jsonb := libs.stac_collection_by_id(collection_id);
BEGIN
    IF out IS NULL THEN
        RAISE EXCEPTION 'collection % not found', collection_id
            USING ERRCODE = 'P0002', HINT = 'GET /collections lists the collections';
    END IF;
    RETURN out;
END
$$;
COMMENT ON FUNCTION api.collection_get(text, jsonb) IS
    'GET /collections/{collectionId}: one collection (any kind) with its links.';

CREATE OR REPLACE FUNCTION libs.stac_page_links(path text, query jsonb, matched bigint, returned int,
                                                lim int, off int) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- Offset paging links (next/prev) for GET lists: the request's own query with another offset.
    SELECT jsonb_build_array(libs.link('self', libs.url_with_query(path, query)),
                             libs.link('root', libs.url(''), 'application/json', 'Root catalog'))
        || CASE WHEN off + returned < matched
                THEN jsonb_build_array(libs.link('next', libs.url_with_query(path,
                         coalesce(query, '{}') || jsonb_build_object('offset', (off + lim)::text)),
                         'application/json', NULL, 'GET')) ELSE '[]' END
        || CASE WHEN off > 0
                THEN jsonb_build_array(libs.link('prev', libs.url_with_query(path,
                         coalesce(query, '{}') || jsonb_build_object('offset', greatest(off - lim, 0)::text)),
                         'application/json', NULL, 'GET')) ELSE '[]' END;
$$;

-- What collection search (GET /collections?sortby=) sorts by: the scalar fields of its queryables
-- (api.collections_queryables) and the STAC common metadata created/updated. pgSTAC would sort by any other
-- name silently, as NULL; here it is a 400 listing these. properties.x and x are the same field.
CREATE OR REPLACE FUNCTION libs.collections_check_sortby(sortby jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    sortable text[] := ARRAY['created', 'datetime', 'description', 'end_datetime', 'id', 'license', 'title',
                             'updated'];
    unknown text[];
BEGIN
    IF jsonb_typeof(sortby) <> 'array' THEN RETURN; END IF;
    SELECT array_agg(s ->> 'field' ORDER BY i) INTO unknown FROM jsonb_array_elements(sortby) WITH ORDINALITY t(s, i)
    WHERE regexp_replace(s ->> 'field', '^properties\.', '') <> ALL (sortable);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'sortby: cannot sort collections by %', array_to_string(unknown, ', ')
            USING ERRCODE = '22023', HINT = format('sortable fields of collection search: %s',
                                                   array_to_string(sortable, ', '));
    END IF;
END
$$;
COMMENT ON FUNCTION libs.collections_check_sortby(jsonb) IS
    'Raises 22023 (400) for sortby fields collection search cannot sort by, listing those it can.';

CREATE OR REPLACE FUNCTION api.collections_list(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pgstac, public AS $$
-- params: {bbox, datetime, q, filter (cql2-json), sortby, fields, limit, offset, query: raw GET parameters}
DECLARE
    lim int := coalesce((params ->> 'limit')::int, 10);
    off int := coalesce((params ->> 'offset')::int, 0);
    body jsonb := jsonb_strip_nulls(jsonb_build_object(
        'bbox', params -> 'bbox', 'datetime', params -> 'datetime', 'q', params -> 'q',
        'filter', libs.stac_cql2(params -> 'filter'), 'filter-lang', CASE WHEN params ? 'filter' THEN 'cql2-json' END,
        'sortby', params -> 'sortby', 'fields', params -> 'fields', 'limit', lim, 'offset', off));
    res jsonb;
BEGIN
    IF lim < 1 OR off < 0 THEN
        RAISE EXCEPTION 'limit must be positive and offset not negative' USING ERRCODE = '22023';
    END IF;
    PERFORM libs.collections_check_sortby(params -> 'sortby');
    PERFORM set_config('client_min_messages', 'warning', true);  -- pgSTAC's NOTICEs stay in the server
    BEGIN
        res := pgstac.collection_search(body);
    EXCEPTION WHEN syntax_error THEN  -- pgSTAC's q_to_tsquery: to_tsquery rejects what it built from q
        RAISE EXCEPTION 'q is not a free-text query this server can read: %', SQLERRM USING ERRCODE = '22023',
            HINT = 'use words, "quoted phrases", AND, OR, parentheses, +word and -word, separated by commas or spaces';
    END;
    RETURN jsonb_build_object(
        'collections', coalesce((
            -- fields=x of a field the collection lacks: pgSTAC's jsonb_fields gives it as null; leave it out
            SELECT jsonb_agg(libs.stac_collection(CASE WHEN params ? 'fields' THEN (
                                     SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') FROM jsonb_each(c) e
                                     WHERE jsonb_typeof(e.value) <> 'null') ELSE c END,
                                 coalesce(m.kind, 'stac'), NOT params ? 'fields') ORDER BY n)
            FROM jsonb_array_elements(res -> 'collections') WITH ORDINALITY AS s(c, n)
            LEFT JOIN data.collection_meta m ON m.collection_id = c ->> 'id'), '[]'),
        'links', libs.stac_page_links('collections', params -> 'query', (res ->> 'numberMatched')::bigint,
                                      jsonb_array_length(res -> 'collections'), lim, off)
              || libs.link('http://www.opengis.net/def/rel/ogc/1.0/queryables', libs.url('collection-queryables'),
                           'application/schema+json', 'Queryables for collection search filters'),
        'numberMatched', res -> 'numberMatched',
        'numberReturned', jsonb_array_length(res -> 'collections'));
END
$$;
COMMENT ON FUNCTION api.collections_list(jsonb) IS
    'GET /collections: collection search (bbox, datetime, q, filter, sortby, fields, limit, offset) '
    'over every collection of every kind, with paging links.';
