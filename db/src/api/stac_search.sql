-- STAC API over pgSTAC: one page of an item search, built from pgSTAC's own pieces.
-- pgstac.search's algorithm (pgstac.stac_search_to_where for the WHERE clause and CQL2, pgstac.sort_sqlorderby,
-- pgstac.get_token_record / get_token_filter for keyset paging, the rows as pgstac.content_nonhydrated builds
-- them, written inline), with one direct query for the page instead of pgstac.search_rows' chunk-by-chunk loop
-- and without its per-call NOTICE chatter (a third of its time on pages of 10 to 1000); numberMatched is counted
-- in the same scan (libs.stac_search_page) instead of through pgstac.where_stats' search_wheres bookkeeping.

DROP FUNCTION IF EXISTS libs.stac_search_page(jsonb);  -- the one-argument version of the first release

CREATE OR REPLACE FUNCTION libs.stac_planned_count(where_sql text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
-- The planner's estimate of the items matching where_sql (EXPLAIN, nothing is read).
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM pgstac.items WHERE ' || where_sql INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_items_at_most(collections jsonb, n bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pgstac, public AS $$
-- Whether the given collections (a JSON array of ids; NULL: all) hold at most n items, by the statistics of
-- their pgSTAC partitions (pg_class.reltuples, kept by ANALYZE and autovacuum). False when unknown.
BEGIN
    RETURN coalesce((SELECT bool_and(c.reltuples >= 0) AND sum(c.reltuples) <= n
                     FROM pgstac.partition_stats p
                     JOIN pg_class c ON c.relname = p.partition AND c.relnamespace = 'pgstac'::regnamespace
                     WHERE collections IS NULL
                        OR p.collection IN (SELECT jsonb_array_elements_text(collections))), false);
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_search_page(search jsonb, count text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
-- search: a pgSTAC search body; count: numberMatched mode (exact, planned, or NULL: exact when cheap).
-- Returns {"features": [dehydrated items], "next": token, "prev": token, "numberMatched", "numberReturned"}.
-- When numberMatched is to be exact (count 'exact', or by default when the searched collections hold at most
-- 100,000 items or the planner expects fewer matches than that), one scan of the matches gives both the count
-- and the page (a WITH query read twice); else the page comes from its own ORDER BY ... LIMIT query (an
-- index-ordered scan stops after the page) and numberMatched is the planner's estimate.
DECLARE
    where_sql text := pgstac.stac_search_to_where(search);
    lim int := coalesce((search ->> 'limit')::int, 10);
    off bigint := coalesce((search ->> 'offset')::bigint, 0);   -- matches skipped (after the token, if any)
    fields jsonb := coalesce(search -> 'fields', '{}');
    -- the stored item as pgstac.content_nonhydrated builds it, inlined (it is PL/pgSQL, called per row)
    item_sql text := format('jsonb_build_object(''id'', id, ''geometry'', %s, ''collection'', collection, '
                            '''type'', ''Feature'') || content',
                            CASE WHEN pgstac.include_field('geometry', coalesce(search -> 'fields', '{}'))
                                 THEN 'ST_AsGeoJSON(geometry, 20)::jsonb' ELSE 'NULL::jsonb' END);
    tok record;
    token_sql text := 'true';
    is_prev boolean := false;
    has_next boolean := false;
    has_prev boolean := false;
    orderby text;
    rows jsonb;
    matched bigint;
BEGIN
    IF search ->> 'token' IS NOT NULL THEN
        SELECT * INTO tok FROM pgstac.get_token_record(search ->> 'token');
        is_prev := tok.prev;
        has_next := is_prev;
        has_prev := NOT is_prev;
        token_sql := pgstac.get_token_filter(search -> 'sortby', tok.item, tok.prev, false);
    END IF;
    orderby := pgstac.sort_sqlorderby(search, is_prev);
    IF off > 0 AND NOT is_prev THEN
        has_prev := true;   -- matches lie before the page (shown when the page has items to name)
    END IF;
    IF count IS NULL AND libs.stac_items_at_most(search -> 'collections', 100000) THEN
        count := 'exact';   -- the searched collections hold at most 100,000 items: no estimate needed
    ELSIF count IS DISTINCT FROM 'exact' THEN
        matched := libs.stac_planned_count(where_sql);
    END IF;
    IF count = 'exact' OR (count IS NULL AND matched < 100000) THEN
        EXECUTE format('WITH m AS (SELECT * FROM pgstac.items WHERE %s) '
                       'SELECT (SELECT count(*) FROM m), (SELECT coalesce(jsonb_agg(%s ORDER BY n), ''[]'') '
                       'FROM (SELECT *, row_number() OVER () AS n '
                       '      FROM (SELECT * FROM m WHERE %s ORDER BY %s LIMIT %s OFFSET %s) s) q)',
                       where_sql, item_sql, token_sql, orderby, lim + 1, off)
            INTO matched, rows;
    ELSE
        EXECUTE format('SELECT coalesce(jsonb_agg(%s ORDER BY n), ''[]'') '
                       'FROM (SELECT *, row_number() OVER () AS n '
                       '      FROM (SELECT * FROM pgstac.items WHERE %s AND %s ORDER BY %s LIMIT %s OFFSET %s) s) q',
                       item_sql, where_sql, token_sql, orderby, lim + 1, off)
            INTO rows;
    END IF;
    IF jsonb_array_length(rows) > lim THEN
        rows := rows - -1;
        IF is_prev THEN has_prev := true; ELSE has_next := true; END IF;
    END IF;
    IF is_prev THEN
        rows := coalesce((SELECT jsonb_agg(r ORDER BY n DESC) FROM jsonb_array_elements(rows) WITH ORDINALITY AS t(r, n)),
                         '[]');
    END IF;
    RETURN jsonb_build_object('features', rows, 'numberReturned', jsonb_array_length(rows))
        || CASE WHEN matched IS NULL THEN '{}' ELSE jsonb_build_object('numberMatched', matched) END
        || CASE WHEN has_next AND jsonb_array_length(rows) > 0 THEN jsonb_build_object('next',
                'next:' || (rows -> -1 ->> 'collection') || ':' || (rows -> -1 ->> 'id')) ELSE '{}' END
        || CASE WHEN has_prev AND jsonb_array_length(rows) > 0 THEN jsonb_build_object('prev',
                'prev:' || (rows -> 0 ->> 'collection') || ':' || (rows -> 0 ->> 'id')) ELSE '{}' END;
END
$$;
COMMENT ON FUNCTION libs.stac_search_page(jsonb, text) IS
    'One page of a pgSTAC search body: dehydrated items, next/prev tokens, numberMatched.';

CREATE OR REPLACE FUNCTION libs.stac_check_sortby(sortby jsonb, collections jsonb) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- A 400 naming the sortby fields pgSTAC cannot sort these collections' items by (it would silently sort
-- them as NULL, leaving the order to id), and listing those it can. properties.x and x are the same field.
DECLARE
    sortable text[];
    unknown text[];
BEGIN
    IF jsonb_typeof(sortby) <> 'array' OR jsonb_array_length(sortby) = 0 THEN RETURN; END IF;
    sortable := libs.stac_sortables(collections);
    SELECT array_agg(s ->> 'field' ORDER BY i) INTO unknown FROM jsonb_array_elements(sortby) WITH ORDINALITY t(s, i)
    WHERE regexp_replace(s ->> 'field', '^properties\.', '') <> ALL (sortable);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'sortby: cannot sort items by %', array_to_string(unknown, ', ') USING ERRCODE = '22023',
            HINT = format('sortable fields%s: %s (%s)',
                          CASE WHEN jsonb_typeof(collections) = 'array'
                               THEN ' of ' || (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(collections) c)
                               ELSE '' END,
                          array_to_string(sortable, ', '),
                          CASE WHEN jsonb_typeof(collections) = 'array' AND jsonb_array_length(collections) = 1
                               THEN 'GET ' || libs.url(format('collections/%s/sortables',
                                                              libs.url_encode(collections ->> 0)))
                               ELSE 'GET /collections/{collectionId}/sortables lists those of each collection' END);
    END IF;
END
$$;
COMMENT ON FUNCTION libs.stac_check_sortby(jsonb, jsonb) IS
    'Raises 22023 (400) for sortby fields that are not sortable for an item search over these collections.';
