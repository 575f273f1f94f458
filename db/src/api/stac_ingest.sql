-- STAC API over pgSTAC, part 3: item ingest, set-based (one statement per step for the whole batch).
-- It stores exactly what pgstac.create_items stores (partitions via pgstac.check_partition, rows dehydrated
-- against the collection's base item like pgstac.content_slim), without the staging trigger's
-- `(content_dehydrate(content)).*`, which evaluates the dehydration once per column (7 times per item).

-- Superseded signatures of earlier releases.
DROP FUNCTION IF EXISTS libs.stac_items_insert(jsonb, boolean);
DROP FUNCTION IF EXISTS libs.stac_items_array(jsonb, text);
DROP FUNCTION IF EXISTS libs.stac_register_queryables(text, jsonb);

CREATE OR REPLACE FUNCTION libs.stac_item_check(item jsonb, collection_id text, item_id text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
-- One item sent to a path with an item id (PUT): the ids must agree; the rest is checked on write.
BEGIN
    IF jsonb_typeof(item) IS DISTINCT FROM 'object' OR item ->> 'type' IS DISTINCT FROM 'Feature' THEN
        RAISE EXCEPTION 'an item must be a GeoJSON Feature object ("type": "Feature")' USING ERRCODE = '22023';
    END IF;
    IF item_id IS NOT NULL AND item ? 'id' AND item ->> 'id' IS DISTINCT FROM item_id THEN
        RAISE EXCEPTION 'the body''s id % does not match the path''s item id %', item ->> 'id', item_id
            USING ERRCODE = '22023';
    END IF;
    RETURN item || jsonb_strip_nulls(jsonb_build_object('id', item_id));
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_items_array(body jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- The items of a FeatureCollection, an array, or a bulk {"items": {id: item} | [item]} body.
    SELECT CASE
        WHEN jsonb_typeof(body) = 'array' THEN body
        WHEN jsonb_typeof(body -> 'features') = 'array' THEN body -> 'features'
        WHEN jsonb_typeof(body -> 'items') = 'array' THEN body -> 'items'
        WHEN jsonb_typeof(body -> 'items') = 'object' THEN (SELECT coalesce(jsonb_agg(v), '[]')
                                                            FROM jsonb_each(body -> 'items') e(k, v))
        ELSE '[]' END;
$$;

CREATE OR REPLACE FUNCTION libs.stac_items_problem(items jsonb, collection_id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- What is wrong with the first item that is not a STAC item of this collection (NULL: nothing).
    SELECT format('item #%s (%s): %s', n, coalesce(v ->> 'id', 'no id'), problem)
    FROM jsonb_array_elements(items) WITH ORDINALITY AS e(v, n),
    LATERAL (SELECT CASE
        WHEN jsonb_typeof(v) IS DISTINCT FROM 'object' OR v ->> 'type' IS DISTINCT FROM 'Feature'
            THEN 'an item must be a GeoJSON Feature object ("type": "Feature")'
        WHEN jsonb_typeof(v -> 'id') IS DISTINCT FROM 'string' OR v ->> 'id' = ''
            THEN 'an item needs an "id": a non-empty string'
        WHEN v ? 'collection' AND v ->> 'collection' IS DISTINCT FROM collection_id
            THEN format('it names collection %s but is sent to collection %s', v ->> 'collection', collection_id)
        WHEN jsonb_typeof(v -> 'geometry') IS DISTINCT FROM 'object'
            THEN 'an item needs a GeoJSON "geometry" object'
        WHEN jsonb_typeof(v -> 'properties') IS DISTINCT FROM 'object'
             OR NOT (v -> 'properties' ? 'datetime'
                     OR (v -> 'properties' ? 'start_datetime' AND v -> 'properties' ? 'end_datetime'))
            THEN 'an item needs "properties" with a "datetime" (or start_datetime and end_datetime)'
        END AS problem) p
    WHERE problem IS NOT NULL
    ORDER BY n LIMIT 1;
$$;

CREATE OR REPLACE FUNCTION libs.stac_queryables_prune() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
-- pgSTAC keeps the ids of deleted collections in queryables.collection_ids (and then refuses any update
-- of those rows): take them out; a row left with no collection goes (an empty list would mean "all").
-- Guarded: pgSTAC's statement trigger on queryables re-checks every partition, even for zero rows.
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgstac.queryables q, unnest(q.collection_ids) u(id)
                   WHERE NOT EXISTS (SELECT 1 FROM pgstac.collections c WHERE c.id = u.id)) THEN
        RETURN;
    END IF;
    DELETE FROM pgstac.queryables q
    WHERE q.collection_ids IS NOT NULL AND q.collection_ids <> '{}'
      AND NOT EXISTS (SELECT 1 FROM pgstac.collections c WHERE c.id = ANY (q.collection_ids));
    UPDATE pgstac.queryables q
    SET collection_ids = ARRAY(SELECT c.id FROM pgstac.collections c WHERE c.id = ANY (q.collection_ids) ORDER BY 1)
    WHERE q.collection_ids IS NOT NULL
      AND EXISTS (SELECT 1 FROM unnest(q.collection_ids) u(id)
                  WHERE NOT EXISTS (SELECT 1 FROM pgstac.collections c WHERE c.id = u.id));
END
$$;

-- The queryable definition and pgSTAC property wrapper of a property whose values have these JSON types
-- (number, string, boolean, array, object; strings all RFC 3339 date-times when dt): one type gives that type
-- (number -> to_float, date-time -> to_tstz, array -> to_text_array, string and boolean -> to_text); several
-- give a list of types ("type": ["number", "string"]), compared as text and not sortable. NULL: nothing to
-- register (objects only, or no value).
CREATE OR REPLACE FUNCTION libs.stac_queryable_typed(name text, types text[], dt boolean,
                                                     OUT definition jsonb, OUT wrapper text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN t IS NULL OR t = '{object}' THEN NULL
                WHEN cardinality(t) > 1 THEN jsonb_build_object('type', to_jsonb(t), 'description',
                    'values of several types: compared as text, not sortable')
                WHEN t[1] = 'array' THEN '{"type": "array", "items": {"type": "string"}}'
                WHEN t[1] = 'string' AND dt THEN '{"type": "string", "format": "date-time"}'
                ELSE jsonb_build_object('type', t[1]) END || jsonb_build_object('title', name),
           CASE WHEN cardinality(t) > 1 THEN 'to_text' WHEN t[1] = 'number' THEN 'to_float'
                WHEN t[1] = 'integer' THEN 'to_int' WHEN t[1] = 'array' THEN 'to_text_array'
                WHEN t[1] = 'string' AND dt THEN 'to_tstz' ELSE 'to_text' END
    FROM (SELECT CASE WHEN 'number' = ANY (types) THEN array_remove(types, 'integer') ELSE types END AS t) s;
$$;

-- The JSON types a registered queryable's definition says its values have ({} for one we cannot read).
CREATE OR REPLACE FUNCTION libs.stac_queryable_types(definition jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE jsonb_typeof(definition -> 'type')
        WHEN 'string' THEN ARRAY[definition ->> 'type']
        WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(definition -> 'type') ORDER BY 1)
        ELSE '{}' END;
$$;

CREATE OR REPLACE FUNCTION libs.stac_register_queryables(collection_id text) RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
-- Registers the properties of the items just written (temp table stac_new_items) as queryables of the
-- collection, typed from ALL their values, those already registered included (libs.stac_queryable_typed):
-- pgSTAC sorts and compares unregistered properties as text ("8" > "56"), registered ones by their type.
-- pgSTAC reads one definition per name (pgstac.queryable), so a row shared by several collections is typed
-- from the values of all of them: a string where numbers were makes it a list of types (compared as text),
-- never a number queryable that fails on the string. Rows for all collections (collection_ids NULL: pgSTAC's
-- and an operator's) are left as they are.
DECLARE
    n int;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS stac_new_queryables (id bigint, name text, definition jsonb, wrapper text,
                                                        add boolean) ON COMMIT DROP;
    TRUNCATE stac_new_queryables;
    PERFORM libs.stac_queryables_prune();  -- the rows read below name live collections only
    INSERT INTO stac_new_queryables
    SELECT q.id, coalesce(q.name, b.key), d.definition, d.wrapper,
           q.id IS NOT NULL AND NOT collection_id = ANY (q.collection_ids)
    FROM (SELECT e.key, array_agg(DISTINCT jsonb_typeof(e.value)) FILTER (WHERE jsonb_typeof(e.value) <> 'null') AS types,
                 bool_and(e.value #>> '{}' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$')
                     FILTER (WHERE jsonb_typeof(e.value) = 'string') AS dt
          FROM stac_new_items i, jsonb_each(i.content -> 'properties') e
          WHERE e.key NOT IN ('datetime', 'start_datetime', 'end_datetime')
          GROUP BY e.key) b
    LEFT JOIN LATERAL (SELECT * FROM pgstac.queryables q WHERE q.name IN (b.key, 'properties.' || b.key)
                       ORDER BY q.id LIMIT 1) q ON true,
    LATERAL (SELECT ARRAY(SELECT DISTINCT t FROM unnest(b.types || libs.stac_queryable_types(q.definition)) t
                          ORDER BY t) AS types,
                    CASE WHEN q.id IS NULL OR NOT 'string' = ANY (libs.stac_queryable_types(q.definition)) THEN b.dt
                         WHEN b.dt IS NULL THEN q.definition ->> 'format' = 'date-time'
                         ELSE b.dt AND q.definition ->> 'format' = 'date-time' END AS dt) m,
    LATERAL libs.stac_queryable_typed(b.key, m.types, m.dt) d
    WHERE d.definition IS NOT NULL AND (q.id IS NULL OR q.collection_ids IS NOT NULL)
      AND (q.id IS NULL OR NOT collection_id = ANY (q.collection_ids)
           OR (libs.stac_queryable_types(d.definition), d.definition ->> 'format', d.wrapper)
              IS DISTINCT FROM (libs.stac_queryable_types(q.definition), q.definition ->> 'format',
                                coalesce(q.property_wrapper, CASE WHEN q.definition ->> 'type' = 'number' THEN 'to_float'
                                    WHEN q.definition ->> 'format' = 'date-time' THEN 'to_tstz' ELSE 'to_text' END)));
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    UPDATE pgstac.queryables q
    SET definition = f.definition || jsonb_strip_nulls(jsonb_build_object('title', q.definition -> 'title')),
        property_wrapper = f.wrapper,
        collection_ids = CASE WHEN f.add THEN q.collection_ids || collection_id ELSE q.collection_ids END
    FROM stac_new_queryables f WHERE q.id = f.id;
    INSERT INTO pgstac.queryables (name, collection_ids, definition, property_wrapper)
    SELECT f.name, ARRAY[collection_id], f.definition, f.wrapper FROM stac_new_queryables f WHERE f.id IS NULL;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_slim_sql(base jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- The SQL expression, over an item f.item, of what pgstac.content_slim stores for it against this base item
-- (the collection's base_item without id, geometry, collection, type), written out key by key for the keys
-- the base item has: a base key the item lacks gets pgSTAC's "deleted" marker, an item value equal to the
-- base value goes, containers of the same type are stripped with pgstac.strip_jsonb, null base values
-- change nothing. One expression for the whole batch instead of a jsonb_each over the base item per item.
DECLARE
    removals text := '';
    additions text := '';
    k text;
    b jsonb;
BEGIN
    FOR k, b IN SELECT key, value FROM jsonb_each(coalesce(base, '{}')) ORDER BY key LOOP
        CONTINUE WHEN jsonb_typeof(b) = 'null';
        IF jsonb_typeof(b) IN ('object', 'array') THEN
            IF jsonb_typeof(b) = 'array' THEN
                removals := removals || format(', CASE WHEN f.item -> %L = %L::jsonb THEN %L END', k, b, k);
            END IF;
            additions := additions || format(
                ', %1$L, CASE WHEN NOT f.item ? %1$L THEN ''"𒍟※"''::jsonb '
                'WHEN jsonb_typeof(f.item -> %1$L) <> %2$L THEN NULL '
                'WHEN f.item -> %1$L = %3$L::jsonb THEN %4$s '
                'ELSE pgstac.strip_jsonb(f.item -> %1$L, %3$L::jsonb) END',
                k, jsonb_typeof(b), b, CASE jsonb_typeof(b) WHEN 'object' THEN '''{}''::jsonb' ELSE 'NULL' END);
        ELSE
            removals := removals || format(', CASE WHEN f.item -> %L = %L::jsonb THEN %L END', k, b, k);
            additions := additions || format(', %1$L, CASE WHEN NOT f.item ? %1$L THEN ''"𒍟※"''::jsonb END', k);
        END IF;
    END LOOP;
    RETURN format('jsonb_strip_nulls((f.item - ARRAY[''id'', ''geometry'', ''collection'', ''type''%s]::text[])%s)',
                  removals,
                  CASE WHEN additions = '' THEN ''
                       ELSE ' || jsonb_strip_nulls(jsonb_build_object(' || substr(additions, 3) || '))' END);
END
$$;
COMMENT ON FUNCTION libs.stac_slim_sql(jsonb) IS
    'The SQL expression (over f.item) storing an item as pgstac.content_slim does against a base item.';

CREATE OR REPLACE FUNCTION libs.stac_items_unreadable(items jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public SET TimeZone = 'UTC' AS $$
-- After a batch failed to parse: raises 22023 naming the first item whose geometry or datetimes cannot be
-- read, with the reason (one item at a time: only on this error path).
DECLARE
    v jsonb;
    n bigint;
BEGIN
    FOR v, n IN SELECT e.v, e.n FROM jsonb_array_elements(items) WITH ORDINALITY AS e(v, n) LOOP
        BEGIN
            PERFORM pgstac.stac_geom(v), (v -> 'properties' ->> 'datetime')::timestamptz,
                    (v -> 'properties' ->> 'start_datetime')::timestamptz,
                    (v -> 'properties' ->> 'end_datetime')::timestamptz;
        EXCEPTION WHEN data_exception OR internal_error THEN
            RAISE EXCEPTION 'item #% (%): %', n, v ->> 'id', SQLERRM USING ERRCODE = '22023';
        END;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_items_duplicates(upsert boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
-- Raises when the batch in stac_new_items repeats an id (22023) or, unless upsert, has an id its
-- collection already holds (23505, HTTP 409).
DECLARE
    dup text;
BEGIN
    SELECT id INTO dup FROM stac_new_items GROUP BY id HAVING count(*) > 1 LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'item id % appears more than once in this request', dup USING ERRCODE = '22023';
    END IF;
    IF NOT upsert THEN
        SELECT p.id INTO dup FROM stac_new_items s JOIN pgstac.items p ON p.collection = s.collection AND p.id = s.id
        LIMIT 1;
        IF dup IS NOT NULL THEN
            RAISE EXCEPTION 'item % already exists', dup
                USING ERRCODE = '23505', HINT = 'PUT replaces an item; the bulk load accepts "method": "upsert"';
        END IF;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_items_write(collection_id text, items jsonb, upsert boolean DEFAULT false)
RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public SET TimeZone = 'UTC' AS $$
-- Checks, dehydrates and stores a batch of items of one collection; all or nothing (one transaction).
DECLARE
    base jsonb := (SELECT c.base_item - '{id,geometry,collection,type}'::text[]
                   FROM pgstac.collections c WHERE c.id = collection_id);
    trunc text := (SELECT c.partition_trunc FROM pgstac.collections c WHERE c.id = collection_id);
    problem text := libs.stac_items_problem(items, collection_id);
    dup text;
    n int;
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = '22023';
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS stac_new_items (LIKE pgstac.items) ON COMMIT DROP;
    TRUNCATE stac_new_items;
    BEGIN
    EXECUTE format($q$
        INSERT INTO stac_new_items (id, geometry, collection, datetime, end_datetime, content)
        SELECT v ->> 'id', g.geom, $2, g.dt, g.edt, %s
        FROM jsonb_array_elements($1) e(v),
             -- OFFSET 0 keeps each LATERAL a subquery evaluated once per item (else the planner inlines it
             -- into every expression that uses it: the geometry and the item would be rebuilt many times).
             -- datetime, end_datetime as pgstac.stac_daterange reads them (in UTC: this function's TimeZone).
             LATERAL (SELECT pgstac.stac_geom(v) AS geom,
                             CASE WHEN p.s IS NOT NULL AND p.e IS NOT NULL THEN p.s::timestamptz ELSE p.d::timestamptz END AS dt,
                             CASE WHEN p.s IS NOT NULL AND p.e IS NOT NULL THEN p.e::timestamptz ELSE p.d::timestamptz END AS edt
                      FROM (SELECT v -> 'properties' ->> 'start_datetime' AS s, v -> 'properties' ->> 'end_datetime' AS e,
                                   v -> 'properties' ->> 'datetime' AS d) p OFFSET 0) g,
             -- pgSTAC's defaults and bbox, added only when missing (a jsonb concatenation copies the item)
             LATERAL (SELECT CASE WHEN v ? 'stac_version' AND v ? 'links' AND v ? 'assets' THEN w
                                  ELSE jsonb_build_object('stac_version', '1.0.0', 'links', '[]'::jsonb,
                                                          'assets', '{}'::jsonb) || w END AS item
                      FROM (SELECT CASE WHEN v ? 'bbox' THEN v
                                        ELSE v || jsonb_build_object('bbox', pgstac.geom_bbox(g.geom)) END AS w) x
                      OFFSET 0) f
        $q$, libs.stac_slim_sql(base))
        USING items, collection_id;
    EXCEPTION WHEN data_exception OR internal_error THEN
        PERFORM libs.stac_items_unreadable(items);   -- names the item PostGIS or the datetime cast refused
        RAISE;
    END;
    GET DIAGNOSTICS n = ROW_COUNT;
    SELECT id INTO dup FROM stac_new_items WHERE datetime > end_datetime LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'item %: start_datetime must not be after end_datetime', dup USING ERRCODE = '22023';
    END IF;
    -- Duplicate ids: a collection without time partitions (partition_trunc NULL) has one partition whose
    -- primary key on id refuses them on insert (below); with time partitions, ids are checked here.
    IF trunc IS NOT NULL THEN
        PERFORM libs.stac_items_duplicates(upsert);
    END IF;
    PERFORM pgstac.check_partition(collection_id, tstzrange(min(datetime), max(datetime), '[]'),
                                   tstzrange(min(end_datetime), max(end_datetime), '[]'))
    FROM stac_new_items
    GROUP BY coalesce(date_trunc(trunc, datetime), '-infinity')
    ORDER BY 1;
    IF upsert THEN
        DELETE FROM pgstac.items p USING stac_new_items s WHERE p.collection = s.collection AND p.id = s.id;
    END IF;
    BEGIN
        INSERT INTO pgstac.items SELECT * FROM stac_new_items;
    EXCEPTION WHEN unique_violation THEN
        PERFORM libs.stac_items_duplicates(upsert);
        RAISE;   -- not one of ours to name (cannot happen: the checks above find every duplicate)
    END;
    PERFORM libs.stac_register_queryables(collection_id);
    RETURN n;
END
$$;
COMMENT ON FUNCTION libs.stac_items_write(text, jsonb, boolean) IS
    'Store a batch of STAC items in pgSTAC (checked; insert, or upsert), registering typed queryables.';
