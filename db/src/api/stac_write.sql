-- STAC API over pgSTAC, part 4: transactions (collections and items) and the bulk item load.
-- Each function checks the writer role first, checks the document, then calls pgSTAC's own
-- create_collection / update_collection / delete_collection, or libs.stac_items_write for items.
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


CREATE OR REPLACE FUNCTION libs.stac_items_create(collection_id text, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pgstac, public AS $$
DECLARE
    n int;
BEGIN
    IF body ->> 'type' = 'Feature' THEN
        PERFORM libs.stac_items_write(collection_id, jsonb_build_array(body));
        RETURN libs.stac_item_get(collection_id, body ->> 'id');
    ELSIF body ->> 'type' = 'FeatureCollection' AND jsonb_typeof(body -> 'features') = 'array' THEN
        n := libs.stac_items_write(collection_id, body -> 'features');
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
    IF jsonb_typeof(body) <> 'array' AND NOT (body ? 'items' OR body ? 'features') THEN
        RAISE EXCEPTION 'send {"items": {id: item, ...} or [item, ...], "method": "insert" or "upsert"}'
            USING ERRCODE = '22023';
    END IF;
    n := libs.stac_items_write(collection_id, libs.stac_items_array(body), upsert);
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
    PERFORM libs.stac_items_write(collection_id, jsonb_build_array(item), true);
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
