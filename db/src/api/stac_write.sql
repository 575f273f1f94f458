-- STAC API over pgSTAC, part 3: transactions (collections and items) and the bulk item load.
-- Each function checks the writer role first, checks the document, then calls pgSTAC's own
-- create_collection / update_collection / delete_collection / create_items / upsert_items / update_item.
-- One call is one transaction: a failed load leaves nothing behind.

CREATE OR REPLACE FUNCTION libs.stac_collection_check(body jsonb, collection_id text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
BEGIN
    IF jsonb_typeof(body) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'a collection must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF collection_id IS NOT NULL AND body ? 'id' AND body ->> 'id' IS DISTINCT FROM collection_id THEN
        RAISE EXCEPTION 'the body''s id % does not match the path''s collection id %', body ->> 'id', collection_id
            USING ERRCODE = '22023', HINT = 'leave id out, or make it equal to the path';
    END IF;
    body := body || jsonb_strip_nulls(jsonb_build_object('id', collection_id));
    IF jsonb_typeof(body -> 'id') IS DISTINCT FROM 'string' OR body ->> 'id' = '' OR body ->> 'id' ~ '[/?#]' THEN
        RAISE EXCEPTION 'a collection needs an "id": a non-empty string without /, ? or #' USING ERRCODE = '22023';
    END IF;
    IF coalesce(body ->> 'type', 'Collection') <> 'Collection' THEN
        RAISE EXCEPTION 'a collection''s "type" must be "Collection", not %', body ->> 'type' USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object('type', 'Collection', 'stac_version', '1.0.0', 'description', body ->> 'id',
                              'license', 'other', 'links', '[]'::jsonb,
                              'extent', '{"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                          "temporal": {"interval": [[null, null]]}}'::jsonb) || body;
END
$$;

CREATE OR REPLACE FUNCTION api.collection_create(body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    doc jsonb;
BEGIN
    PERFORM libs.require_writer();
    doc := libs.stac_collection_check(body);
    IF EXISTS (SELECT 1 FROM pgstac.collections WHERE id = doc ->> 'id') THEN
        RAISE EXCEPTION 'collection % already exists', doc ->> 'id'
            USING ERRCODE = '23505', HINT = 'PUT /collections/{id} replaces it';
    END IF;
    PERFORM pgstac.create_collection(doc);
    INSERT INTO data.collection_meta (collection_id, kind) VALUES (doc ->> 'id', 'stac');
    RETURN libs.stac_collection(doc, 'stac');
END
$$;
COMMENT ON FUNCTION api.collection_create(jsonb) IS
    'POST /collections: create a STAC collection (kind stac). 409 when the id exists.';

CREATE OR REPLACE FUNCTION api.collection_replace(collection_id text, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    doc jsonb := libs.stac_collection_check(body, collection_id);
BEGIN
    PERFORM libs.require_writer();
    PERFORM libs.collection_kind(collection_id);
    PERFORM pgstac.update_collection(doc);
    RETURN libs.stac_collection_by_id(collection_id);
END
$$;
COMMENT ON FUNCTION api.collection_replace(text, jsonb) IS 'PUT /collections/{collectionId}: replace its document.';

CREATE OR REPLACE FUNCTION api.collection_patch(collection_id text, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    PERFORM libs.require_writer();
    PERFORM libs.collection_kind(collection_id);
    IF jsonb_typeof(body) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'a patch must be a JSON object (RFC 7396 merge patch)' USING ERRCODE = '22023';
    END IF;
    PERFORM pgstac.update_collection(libs.stac_collection_check(
        libs.json_merge_patch(pgstac.get_collection(collection_id), body), collection_id));
    RETURN libs.stac_collection_by_id(collection_id);
END
$$;
COMMENT ON FUNCTION api.collection_patch(text, jsonb) IS
    'PATCH /collections/{collectionId}: apply an RFC 7396 merge patch to its document.';

CREATE OR REPLACE FUNCTION api.collection_delete(collection_id text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    PERFORM libs.require_writer();
    PERFORM libs.collection_kind(collection_id);
    PERFORM pgstac.delete_collection(collection_id);
    PERFORM libs.stac_queryables_prune();
    RETURN jsonb_build_object('deleted', collection_id);
END
$$;
COMMENT ON FUNCTION api.collection_delete(text) IS
    'DELETE /collections/{collectionId}: delete a collection of any kind with everything that belongs to it.';

CREATE OR REPLACE FUNCTION libs.stac_item_check(item jsonb, collection_id text, item_id text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pgstac, public AS $$
-- A STAC item ready for pgSTAC: checked, with its collection set; a clear 400 otherwise.
BEGIN
    IF jsonb_typeof(item) IS DISTINCT FROM 'object' OR item ->> 'type' IS DISTINCT FROM 'Feature' THEN
        RAISE EXCEPTION 'an item must be a GeoJSON Feature object ("type": "Feature")' USING ERRCODE = '22023';
    END IF;
    IF item_id IS NOT NULL AND item ? 'id' AND item ->> 'id' IS DISTINCT FROM item_id THEN
        RAISE EXCEPTION 'the body''s id % does not match the path''s item id %', item ->> 'id', item_id
            USING ERRCODE = '22023';
    END IF;
    item := item || jsonb_strip_nulls(jsonb_build_object('id', item_id));
    IF jsonb_typeof(item -> 'id') IS DISTINCT FROM 'string' OR item ->> 'id' = '' THEN
        RAISE EXCEPTION 'an item needs an "id": a non-empty string' USING ERRCODE = '22023';
    END IF;
    IF item ? 'collection' AND item ->> 'collection' IS DISTINCT FROM collection_id THEN
        RAISE EXCEPTION 'item % names collection %, but is sent to collection %', item ->> 'id',
            item ->> 'collection', collection_id USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(item -> 'geometry') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'item % needs a GeoJSON "geometry" object', item ->> 'id' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(item -> 'properties') IS DISTINCT FROM 'object'
       OR NOT (item -> 'properties' ? 'datetime'
               OR (item -> 'properties' ? 'start_datetime' AND item -> 'properties' ? 'end_datetime')) THEN
        RAISE EXCEPTION 'item % needs "properties" with a "datetime" (or start_datetime and end_datetime)',
            item ->> 'id' USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object('stac_version', '1.0.0', 'links', '[]'::jsonb, 'assets', '{}'::jsonb,
                              'bbox', pgstac.geom_bbox(public.st_geomfromgeojson(item -> 'geometry')))
        || item || jsonb_build_object('collection', collection_id);
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_items_array(body jsonb, collection_id text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pgstac, public AS $$
    -- The checked items of a FeatureCollection, an array, or a bulk {"items": {id: item} | [item]} body.
    SELECT coalesce(jsonb_agg(libs.stac_item_check(i, collection_id) ORDER BY n), '[]')
    FROM jsonb_array_elements(CASE
        WHEN jsonb_typeof(body) = 'array' THEN body
        WHEN jsonb_typeof(body -> 'features') = 'array' THEN body -> 'features'
        WHEN jsonb_typeof(body -> 'items') = 'array' THEN body -> 'items'
        WHEN jsonb_typeof(body -> 'items') = 'object' THEN (SELECT coalesce(jsonb_agg(v), '[]')
                                                            FROM jsonb_each(body -> 'items') e(k, v))
        ELSE '[]' END) WITH ORDINALITY AS s(i, n);
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

CREATE OR REPLACE FUNCTION libs.stac_register_queryables(collection_id text, items jsonb) RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
-- Registers the item properties pgSTAC does not know yet as queryables of the collection, typed from the
-- values (number -> to_float, RFC 3339 string -> to_tstz, string -> to_text, array -> to_text_array):
-- pgSTAC sorts and compares unregistered properties as text ("8" > "56"), registered ones by their type.
DECLARE
    n int;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS stac_new_queryables (name text, definition jsonb, wrapper text) ON COMMIT DROP;
    TRUNCATE stac_new_queryables;
    INSERT INTO stac_new_queryables
    SELECT DISTINCT ON (p.key) p.key,
           CASE WHEN jsonb_typeof(p.value) = 'number' THEN '{"type": "number"}'::jsonb
                WHEN jsonb_typeof(p.value) = 'array' THEN '{"type": "array", "items": {"type": "string"}}'
                WHEN p.value #>> '{}' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$'
                     THEN '{"type": "string", "format": "date-time"}'
                ELSE '{"type": "string"}' END || jsonb_build_object('title', p.key),
           CASE WHEN jsonb_typeof(p.value) = 'number' THEN 'to_float'
                WHEN jsonb_typeof(p.value) = 'array' THEN 'to_text_array'
                WHEN p.value #>> '{}' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$'
                     THEN 'to_tstz'
                ELSE 'to_text' END
    FROM (SELECT DISTINCT ON (e.key) e.key, e.value
          FROM jsonb_array_elements(items) i, jsonb_each(i -> 'properties') e
          WHERE jsonb_typeof(e.value) IN ('number', 'string', 'array')
            AND e.key NOT IN ('datetime', 'start_datetime', 'end_datetime')
          ORDER BY e.key) p
    WHERE NOT EXISTS (SELECT 1 FROM pgstac.queryables q
                      WHERE q.name IN (p.key, 'properties.' || p.key)
                        AND (q.collection_ids IS NULL OR collection_id = ANY (q.collection_ids)))
    ORDER BY p.key;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    PERFORM libs.stac_queryables_prune();
    -- pgSTAC allows one row per name and collection: extend an existing row of that name, else add one.
    UPDATE pgstac.queryables q SET collection_ids = q.collection_ids || collection_id
    FROM stac_new_queryables f
    WHERE q.id = (SELECT min(id) FROM pgstac.queryables WHERE name = f.name) AND q.collection_ids IS NOT NULL;
    INSERT INTO pgstac.queryables (name, collection_ids, definition, property_wrapper)
    SELECT f.name, ARRAY[collection_id], f.definition, f.wrapper FROM stac_new_queryables f
    WHERE NOT EXISTS (SELECT 1 FROM pgstac.queryables q WHERE q.name = f.name);
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_items_insert(items jsonb, upsert boolean DEFAULT false) RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    dup text;
BEGIN
    SELECT i ->> 'id' INTO dup FROM jsonb_array_elements(items) i GROUP BY 1 HAVING count(*) > 1 LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'item id % appears more than once in this request', dup USING ERRCODE = '22023';
    END IF;
    IF NOT upsert THEN
        SELECT p.id INTO dup FROM pgstac.items p JOIN jsonb_array_elements(items) i
            ON p.collection = i ->> 'collection' AND p.id = i ->> 'id' LIMIT 1;
        IF dup IS NOT NULL THEN
            RAISE EXCEPTION 'item % already exists', dup
                USING ERRCODE = '23505', HINT = 'PUT replaces an item; the bulk load accepts "method": "upsert"';
        END IF;
        PERFORM pgstac.create_items(items);
    ELSE
        PERFORM pgstac.upsert_items(items);
    END IF;
    PERFORM libs.stac_register_queryables(items -> 0 ->> 'collection', items);
    RETURN jsonb_array_length(items);
END
$$;

CREATE OR REPLACE FUNCTION libs.stac_items_create(collection_id text, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    item jsonb;
    n int;
BEGIN
    IF body ->> 'type' = 'Feature' THEN
        item := libs.stac_item_check(body, collection_id);
        PERFORM libs.stac_items_insert(jsonb_build_array(item));
        RETURN libs.stac_item_get(collection_id, item ->> 'id');
    ELSIF body ->> 'type' = 'FeatureCollection' AND jsonb_typeof(body -> 'features') = 'array' THEN
        n := libs.stac_items_insert(libs.stac_items_array(body, collection_id));
        RETURN jsonb_build_object('type', 'ItemCollectionAdded', 'collection', collection_id, 'added', n,
            'links', jsonb_build_array(libs.link('items', libs.url('collections/' || libs.url_encode(collection_id)
                                                                  || '/items'), 'application/geo+json')));
    END IF;
    RAISE EXCEPTION 'send a STAC item (a GeoJSON Feature) or an ItemCollection (a FeatureCollection)'
        USING ERRCODE = '22023';
END
$$;

CREATE OR REPLACE FUNCTION api.items_create(collection_id text, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    PERFORM libs.require_writer();
    IF libs.collection_kind(collection_id) IN ('features', 'hybrid') THEN
        RETURN api.features_create(collection_id, body);
    END IF;
    RETURN libs.stac_items_create(collection_id, body);
END
$$;
COMMENT ON FUNCTION api.items_create(text, jsonb) IS
    'POST /collections/{collectionId}/items: add an item, or every item of an ItemCollection, in one '
    'transaction (features/hybrid collections: api.features_create). 409 when an id exists.';

CREATE OR REPLACE FUNCTION api.items_load(collection_id text, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    upsert boolean := coalesce(body ->> 'method', 'insert') = 'upsert';
    n int;
BEGIN
    PERFORM libs.require_writer();
    IF libs.collection_kind(collection_id) NOT IN ('stac', 'cube') THEN
        RAISE EXCEPTION 'collection % holds vector features: POST them to /collections/%/items',
            collection_id, collection_id USING ERRCODE = '22023';
    END IF;
    IF coalesce(body ->> 'method', 'insert') NOT IN ('insert', 'upsert') THEN
        RAISE EXCEPTION 'method must be "insert" or "upsert", not %', body ->> 'method' USING ERRCODE = '22023';
    END IF;
    n := libs.stac_items_insert(libs.stac_items_array(body, collection_id), upsert);
    RETURN jsonb_build_object('collection', collection_id, 'method', CASE WHEN upsert THEN 'upsert' ELSE 'insert' END,
                              'loaded', n);
END
$$;
COMMENT ON FUNCTION api.items_load(text, jsonb) IS
    'POST /collections/{collectionId}/bulk_items: load many items in one transaction (all or nothing). '
    'body: {"items": {id: item, ...} or [item, ...], "method": "insert" (default; 409 on an existing id) '
    'or "upsert"}; a FeatureCollection or a plain array of items is accepted too.';

CREATE OR REPLACE FUNCTION libs.stac_item_replace(collection_id text, item_id text, item jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    item := libs.stac_item_check(item, collection_id, item_id);
    PERFORM libs.stac_item_get(collection_id, item_id);
    PERFORM pgstac.delete_item(item_id, collection_id);
    PERFORM pgstac.create_item(item);
    PERFORM libs.stac_register_queryables(collection_id, jsonb_build_array(item));
    RETURN libs.stac_item_get(collection_id, item_id);
END
$$;

CREATE OR REPLACE FUNCTION api.item_replace(collection_id text, item_id text, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    PERFORM libs.require_writer();
    IF libs.collection_kind(collection_id) IN ('features', 'hybrid') THEN
        RETURN api.feature_replace(collection_id, item_id, body);
    END IF;
    RETURN libs.stac_item_replace(collection_id, item_id, body);
END
$$;
COMMENT ON FUNCTION api.item_replace(text, text, jsonb) IS
    'PUT /collections/{collectionId}/items/{itemId}: replace an item (404 when it does not exist).';

CREATE OR REPLACE FUNCTION api.item_patch(collection_id text, item_id text, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    PERFORM libs.require_writer();
    IF libs.collection_kind(collection_id) IN ('features', 'hybrid') THEN
        RETURN api.feature_patch(collection_id, item_id, body);
    END IF;
    IF jsonb_typeof(body) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'a patch must be a JSON object (RFC 7396 merge patch)' USING ERRCODE = '22023';
    END IF;
    RETURN libs.stac_item_replace(collection_id, item_id,
        libs.json_merge_patch(libs.stac_item_get(collection_id, item_id) - 'links', body));
END
$$;
COMMENT ON FUNCTION api.item_patch(text, text, jsonb) IS
    'PATCH /collections/{collectionId}/items/{itemId}: apply an RFC 7396 merge patch to an item.';

CREATE OR REPLACE FUNCTION api.item_delete(collection_id text, item_id text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
BEGIN
    PERFORM libs.require_writer();
    IF libs.collection_kind(collection_id) IN ('features', 'hybrid') THEN
        RETURN api.feature_delete(collection_id, item_id);
    END IF;
    -- Idempotent (RFC 9110): deleting an item that is not there is not an error.
    DELETE FROM pgstac.items WHERE collection = collection_id AND id = item_id;
    RETURN jsonb_build_object('deleted', FOUND, 'collection', collection_id, 'id', item_id);
END
$$;
COMMENT ON FUNCTION api.item_delete(text, text) IS
    'DELETE /collections/{collectionId}/items/{itemId}: delete an item (idempotent: an absent item is no error).';
