-- Keyset (cursor) paging of feature collections: /collections/{id}/items of 'features' and 'hybrid'
-- collections and /search of one 'features' collection (api/features.sql).
--
-- Every items request sorts by its sort keys: sortby's terms, then the feature id, which makes the order
-- total (without sortby: by id alone, an index range scan of data.features' primary key). A next/prev link
-- carries a token with the sort key values of the page's last/first feature, and the following page is
-- "the rows after (before) those values" (libs.features_keyset_sql), not an OFFSET: features written or
-- deleted between two requests neither repeat nor vanish from a walk over the pages.
--
-- Token: next:<values>.<sort>.<check> or prev:... (the next:/prev: prefixes of the STAC side's tokens,
-- libs.stac_search_links). <values>: the JSON array of key values, base64url; <sort>: 8 hex digits naming
-- the collection and sort keys the values belong to; <check>: 12 hex digits over both, so that an altered
-- token is a 400 instead of a silently different page. Values reach SQL only as quoted literals.

-- The sort keys of an items request: [{"sql", "kind", "desc", "notnull"}], sortby's terms then id.
CREATE OR REPLACE FUNCTION libs.features_sort_keys(sortby jsonb, kinds jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    keys jsonb := '[]';
BEGIN
    IF jsonb_typeof(sortby) = 'array' AND jsonb_array_length(sortby) > 0 THEN
        PERFORM libs.features_check_properties(ARRAY(SELECT s ->> 'field' FROM jsonb_array_elements(sortby) s),
                                               kinds, 'sortby');
        SELECT jsonb_agg(jsonb_build_object(
                   'sql', p ->> 'sql' || CASE WHEN p ->> 'kind' = 'text' THEN ' COLLATE "C"' ELSE '' END,
                   'kind', p ->> 'kind', 'desc', coalesce(lower(s ->> 'direction') = 'desc', false),
                   'notnull', false) ORDER BY i)
        INTO keys
        FROM jsonb_array_elements(sortby) WITH ORDINALITY AS x(s, i),
             LATERAL libs.cql2_property(s ->> 'field', jsonb_build_object('kinds', kinds)) p;
    END IF;
    -- the tie-breaker, in the primary key's collation so that the default order is an index scan
    RETURN keys || jsonb_build_array(jsonb_build_object('sql', 'id', 'kind', 'text', 'desc', false, 'notnull', true));
END
$$;
COMMENT ON FUNCTION libs.features_sort_keys(jsonb, jsonb) IS
    'The sort keys of a feature items request: sortby [{field, direction}] as SQL terms, then id as the '
    'tie-breaker: [{"sql", "kind", "desc", "notnull"}].';

-- ORDER BY of the sort keys, NULLs last; reverse => the opposite order (a prev page is read backwards).
CREATE OR REPLACE FUNCTION libs.features_order_keys_sql(keys jsonb, reverse boolean DEFAULT false) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT string_agg(format('%s %s NULLS %s', k ->> 'sql',
                             CASE WHEN (k ->> 'desc')::boolean <> reverse THEN 'DESC' ELSE 'ASC' END,
                             CASE WHEN reverse THEN 'FIRST' ELSE 'LAST' END), ', ' ORDER BY i)
    FROM jsonb_array_elements(keys) WITH ORDINALITY AS x(k, i);
$$;

-- The JSON array of a row's sort key values (what a token carries).
CREATE OR REPLACE FUNCTION libs.features_key_values_sql(keys jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT format('jsonb_build_array(%s)', string_agg(
        CASE WHEN k ->> 'kind' = 'geometry' THEN format('(%s)::text', k ->> 'sql') ELSE k ->> 'sql' END,
        ', ' ORDER BY i))
    FROM jsonb_array_elements(keys) WITH ORDINALITY AS x(k, i);
$$;

-- A key value from a token as a SQL literal of the key's type.
CREATE OR REPLACE FUNCTION libs.features_key_literal(v jsonb, kind text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE kind
        WHEN 'number' THEN format('%L::numeric', v #>> '{}')
        WHEN 'date' THEN format('%L::date', v #>> '{}')
        WHEN 'timestamp' THEN format('%L::timestamptz', v #>> '{}')
        WHEN 'bool' THEN format('%L::boolean', v #>> '{}')
        WHEN 'geometry' THEN format('%L::public.geometry', v #>> '{}')
        WHEN 'text' THEN format('%L::text', v #>> '{}')
        ELSE format('%L::jsonb', v::text) END;
$$;

-- The rows after (after => true) or before the sort key values `vals` in the order of `keys`
-- (NULLs last): k1 > v1 OR (k1 = v1 AND (k2 > v2 OR (... AND id > v_id))), with the comparison turned
-- for descending keys and NULLs placed. Without sortby this is `id > 'x'`: an index range scan.
CREATE OR REPLACE FUNCTION libs.features_keyset_sql(keys jsonb, vals jsonb, after boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    cond text;
    k jsonb;
    v jsonb;
    term text;
    lit text;
    beyond text;   -- this key alone puts the row beyond the values
    same text;     -- this key equals the value
BEGIN
    FOR i IN REVERSE jsonb_array_length(keys) - 1 .. 0 LOOP
        k := keys -> i;
        v := vals -> i;
        term := k ->> 'sql';
        IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
            same := format('%s IS NULL', term);
            beyond := CASE WHEN after THEN 'FALSE' ELSE format('%s IS NOT NULL', term) END;
        ELSE
            lit := libs.features_key_literal(v, k ->> 'kind');
            same := format('%s = %s', term, lit);
            beyond := format('%s %s %s', term, CASE WHEN (k ->> 'desc')::boolean = after THEN '<' ELSE '>' END, lit);
            IF after AND NOT (k ->> 'notnull')::boolean THEN
                beyond := format('(%s OR %s IS NULL)', beyond, term);
            END IF;
        END IF;
        cond := CASE WHEN cond IS NULL THEN beyond ELSE format('(%s OR (%s AND %s))', beyond, same, cond) END;
    END LOOP;
    RETURN cond;
END
$$;
COMMENT ON FUNCTION libs.features_keyset_sql(jsonb, jsonb, boolean) IS
    'SQL condition for the features after (or before) a row with the sort key values vals, in the order of '
    'libs.features_sort_keys (NULLs last).';

-- What a token's <sort> part is for this request: the collection and its sort keys (their SQL, hence the
-- property types), 8 hex digits.
CREATE OR REPLACE FUNCTION libs.features_sort_signature(collection_id text, keys jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT left(md5(collection_id || '|' || keys::text), 8);
$$;

-- A paging token: dir ('next' | 'prev') || ':' || base64url(values) || '.' || signature || '.' || check.
CREATE OR REPLACE FUNCTION libs.features_token(dir text, vals jsonb, signature text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT dir || ':' || b64 || '.' || signature || '.' || left(md5(b64 || '.' || signature), 12)
    FROM (SELECT rtrim(translate(encode(convert_to(vals::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=') AS b64) t;
$$;

-- A token read back: {"dir", "values"}; the old numeric tokens (next:20) as {"offset": 20}. A token that is
-- not one of ours, was altered, or belongs to another collection or sort order is a 400 saying which.
CREATE OR REPLACE FUNCTION libs.features_token_read(token text, signature text, nkeys int) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    m text[] := regexp_match(token, '^(next|prev):([A-Za-z0-9_-]+)\.([0-9a-f]{8})\.([0-9a-f]{12})$');
    shown text := left(token, 80) || CASE WHEN length(token) > 80 THEN '...' ELSE '' END;
    b64 text;
    vals jsonb;
BEGIN
    IF token ~ '^(next|prev):\d{1,12}$' THEN
        RETURN jsonb_build_object('offset', split_part(token, ':', 2)::bigint);
    END IF;
    IF m IS NULL THEN
        RAISE EXCEPTION 'token % is malformed: a paging token is next:<values>.<sort>.<check> or prev:..., as '
            'the next and prev links give it', shown USING ERRCODE = '22023',
            HINT = 'follow the next/prev links unchanged, or leave token out for the first page';
    END IF;
    IF left(md5(m[2] || '.' || m[3]), 12) <> m[4] THEN
        RAISE EXCEPTION 'token % was altered: its check digits do not match its content', shown
            USING ERRCODE = '22023', HINT = 'follow the next/prev links unchanged, or leave token out for the first page';
    END IF;
    IF m[3] <> signature THEN
        RAISE EXCEPTION 'token % belongs to another collection or sort order (sortby, or the type of a sorted '
            'property, differs from this request)', shown USING ERRCODE = '22023',
            HINT = 'repeat the request the token came from with the same sortby, or start again from the first page';
    END IF;
    b64 := translate(m[2], '-_', '+/');
    vals := convert_from(decode(b64 || repeat('=', (4 - length(b64) % 4) % 4), 'base64'), 'UTF8')::jsonb;
    IF jsonb_typeof(vals) <> 'array' OR jsonb_array_length(vals) <> nkeys THEN
        RAISE EXCEPTION 'token % is malformed: it holds % instead of % sort key values', shown,
            CASE WHEN jsonb_typeof(vals) = 'array' THEN jsonb_array_length(vals)::text ELSE 'no list' END, nkeys
            USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object('dir', m[1], 'values', vals);
END
$$;
COMMENT ON FUNCTION libs.features_token_read(text, text, int) IS
    'Reads a feature paging token (libs.features_token) for a request with this sort signature and number '
    'of sort keys: {"dir": "next"|"prev", "values": [...]}, or {"offset": n} for a numeric token; 22023 '
    'naming what is wrong otherwise.';
