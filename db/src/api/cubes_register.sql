-- Registering a DataCube: the STAC collection (datacube extension), one STAC item per time slice, and the
-- rows the raster worker reads (data.cubes, data.cube_layers), all in the caller's one transaction.

CREATE OR REPLACE FUNCTION libs.cube_collection_doc(collection_id text, params jsonb, existing jsonb)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH t AS (
        SELECT params -> 'times' -> 0 AS t0, params -> 'times' -> -1 AS t1
    ), doc AS (
        SELECT jsonb_build_object(
            'type', 'Collection',
            'stac_version', '1.0.0',
            'id', collection_id,
            'title', coalesce(params ->> 'title', existing ->> 'title', collection_id),
            'description', coalesce(params ->> 'description', existing ->> 'description',
                                    'Zarr DataCube ' || collection_id),
            'license', coalesce(params ->> 'license', existing ->> 'license', 'other'),
            'keywords', coalesce(existing -> 'keywords', '["datacube"]'),
            'links', coalesce(existing -> 'links', '[]'),
            'extent', jsonb_build_object(
                'spatial', jsonb_build_object('bbox', jsonb_build_array(params -> 'bbox')),
                'temporal', jsonb_build_object('interval', jsonb_build_array(jsonb_build_array(t.t0, t.t1)))),
            'cube:dimensions', jsonb_build_object(
                'time', jsonb_build_object('type', 'temporal', 'extent', jsonb_build_array(t.t0, t.t1),
                                           'values', params -> 'times'),
                'x', jsonb_build_object('type', 'spatial', 'axis', 'x', 'reference_system', 3857,
                                        'extent', jsonb_build_array(params -> 'extent_3857' -> 0,
                                                                    params -> 'extent_3857' -> 2),
                                        'step', params -> 'step' -> 0),
                'y', jsonb_build_object('type', 'spatial', 'axis', 'y', 'reference_system', 3857,
                                        'extent', jsonb_build_array(params -> 'extent_3857' -> 1,
                                                                    params -> 'extent_3857' -> 3),
                                        'step', params -> 'step' -> 1)),
            'cube:variables', coalesce((
                SELECT jsonb_object_agg(l ->> 'name', jsonb_strip_nulls(jsonb_build_object(
                    'type', CASE WHEN l ->> 'kind' = 'mask' THEN 'auxiliary' ELSE 'data' END,
                    'dimensions', '["time", "y", "x"]'::jsonb,
                    'unit', l -> 'units', 'description', l -> 'description', 'expression', l -> 'expression')))
                FROM jsonb_array_elements(params -> 'layers') l WHERE l ->> 'kind' <> 'composite'), '{}'),
            'summaries', jsonb_build_object('proj:epsg', jsonb_build_array(3857),
                                            'cube:native_crs', jsonb_build_array(params -> 'native_crs'))
        ) AS d
        FROM t
    )
    SELECT coalesce(existing, '{}') || d || jsonb_build_object('stac_extensions', (
        SELECT jsonb_agg(DISTINCT e) FROM jsonb_array_elements(
            coalesce(existing -> 'stac_extensions', '[]')
            || '["https://stac-extensions.github.io/datacube/v2.2.0/schema.json"]'::jsonb) e))
    FROM doc;
$$;

CREATE OR REPLACE FUNCTION libs.cube_item_properties(dims jsonb, vars jsonb, t jsonb, time_index integer)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- A time slice's properties, valid under the datacube extension (v2.2.0): its own cube:dimensions (the
    -- collection's x and y, a time dimension of this one instant) and the collection's cube:variables (an
    -- object). The extension allows no other cube:* field, so the slice's index is stapi:time_index.
    SELECT jsonb_build_object(
        'datetime', t,
        'stapi:time_index', time_index,
        'cube:dimensions', dims || jsonb_build_object('time', jsonb_build_object(
            'type', 'temporal', 'extent', jsonb_build_array(t, t), 'values', jsonb_build_array(t))),
        'cube:variables', vars);
$$;

CREATE OR REPLACE FUNCTION libs.cube_item_extensions() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '["https://stac-extensions.github.io/datacube/v2.2.0/schema.json"]'::jsonb || libs.cube_web_extensions();
$$;

CREATE OR REPLACE FUNCTION libs.cube_layer_default_of(layers jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- libs.cube_default_layer's rule over the registration's layers: first index, composite, band, mask.
    SELECT l ->> 'name' FROM jsonb_array_elements(layers) WITH ORDINALITY AS x(l, o)
    ORDER BY array_position(ARRAY['index', 'composite', 'band', 'mask'], l ->> 'kind'), o, l ->> 'name' LIMIT 1;
$$;

CREATE OR REPLACE FUNCTION libs.cube_items(collection_id text, params jsonb) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'type', 'Feature',
        'stac_version', '1.0.0',
        'stac_extensions', libs.cube_item_extensions(),
        'id', collection_id || '-' || to_char((t.value #>> '{}')::timestamptz AT TIME ZONE 'UTC',
                                              'YYYYMMDD"T"HH24MISS'),
        'collection', collection_id,
        'geometry', ST_AsGeoJSON(ST_MakeEnvelope((b ->> 0)::float8, (b ->> 1)::float8,
                                                 (b ->> 2)::float8, (b ->> 3)::float8, 4326))::jsonb,
        'bbox', b,
        'properties', libs.cube_item_properties(doc.d -> 'cube:dimensions', doc.d -> 'cube:variables',
                                                t.value, (t.ord - 1)::int),
        -- hrefs relative to the item's self link, made absolute on the request's surface when read
        -- (libs.cube_item_hrefs): '../zarr' is GET /collections/{id}/zarr/{key}, the served store
        -- and tiles/... the web map links of the default layer at this instant
        'assets', jsonb_build_object('data', libs.cube_data_asset('../zarr',
            'Zarr store (dims time, y, x in EPSG:3857) over HTTP; this item is time index ' || (t.ord - 1))),
        'links', libs.cube_web_links('..', dl.layer, t.value #>> '{}')) ORDER BY t.ord), '[]')
    FROM jsonb_array_elements(params -> 'times') WITH ORDINALITY AS t(value, ord),
         LATERAL (SELECT params -> 'bbox' AS b) bb,
         (SELECT libs.cube_layer_default_of(params -> 'layers') AS layer) dl,
         (SELECT libs.cube_collection_doc(collection_id, params, NULL) AS d) doc;
$$;

CREATE OR REPLACE FUNCTION libs.cube_check_params(params jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
BEGIN
    IF params ->> 'store_path' IS NULL THEN
        RAISE EXCEPTION 'store_path is required' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(params -> 'bbox') IS DISTINCT FROM 'array' OR jsonb_array_length(params -> 'bbox') <> 4 THEN
        RAISE EXCEPTION 'bbox must be [minx, miny, maxx, maxy] in WGS84' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(params -> 'times') IS DISTINCT FROM 'array' OR jsonb_array_length(params -> 'times') = 0 THEN
        RAISE EXCEPTION 'times must be a non-empty array of RFC 3339 date-times' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(params -> 'layers') IS DISTINCT FROM 'array' OR jsonb_array_length(params -> 'layers') = 0 THEN
        RAISE EXCEPTION 'layers must be a non-empty array' USING ERRCODE = '22023';
    END IF;
END
$$;

-- In a hybrid, the cube's time-slice items and the features share /collections/{id}/items/{id}: a slice whose
-- id a feature already has would be shadowed by it (features created before slice ids were refused on
-- feature writes can have one). A 409 naming them, before anything is written.
CREATE OR REPLACE FUNCTION libs.cube_refuse_feature_ids(cid text, params jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
    clash text[];
BEGIN
    SELECT array_agg(f.id ORDER BY f.id) INTO clash FROM data.features f
    WHERE f.collection_id = cid
      AND f.id = ANY (ARRAY(SELECT i ->> 'id' FROM jsonb_array_elements(libs.cube_items(cid, params)) i));
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'cannot register the DataCube of %: the id(s) % of its time slices are ids of features of '
            'the collection', cid, array_to_string(clash[1:10], ', ')
                || CASE WHEN cardinality(clash) > 10 THEN format(' (and %s more)', cardinality(clash) - 10) ELSE '' END
            USING ERRCODE = '23505', HINT = format('time slices are named %s-YYYYMMDDTHHMMSS; give those features '
                'other ids (DELETE /collections/%s/items/{id}, then POST them again with another id) and register '
                'again', cid, cid);
    END IF;
END
$$;
COMMENT ON FUNCTION libs.cube_refuse_feature_ids(text, jsonb) IS
    'Raises 23505 (409) naming the features of a collection whose ids the time slices of the cube being '
    'registered (params as for api.cube_register) would take.';

CREATE OR REPLACE FUNCTION api.cube_register(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
    cid text := cube_register.collection_id;
    previous text;
    existing jsonb;
    new_kind text;
BEGIN
    PERFORM libs.require_writer();
    PERFORM libs.cube_check_params(params);
    SELECT c.store_path INTO previous FROM data.cubes c WHERE c.collection_id = cid FOR UPDATE;
    IF previous IS NOT NULL AND NOT coalesce((params ->> 'force')::boolean, false) THEN
        RAISE EXCEPTION 'collection % already has a DataCube', cid
            USING ERRCODE = '23505', HINT = 'pass --force (HTTP: "force": true) to replace it atomically';
    END IF;
    SELECT c.content INTO existing FROM pgstac.collections c WHERE c.id = cid FOR UPDATE;
    new_kind := CASE WHEN EXISTS (SELECT 1 FROM data.features f WHERE f.collection_id = cid)
                       OR EXISTS (SELECT 1 FROM data.collection_meta m WHERE m.collection_id = cid
                                  AND m.kind IN ('features', 'hybrid'))
                     THEN 'hybrid' ELSE 'cube' END;
    IF new_kind = 'hybrid' THEN
        PERFORM libs.cube_refuse_feature_ids(cid, params);
    END IF;
    IF existing IS NULL THEN
        PERFORM pgstac.create_collection(libs.cube_collection_doc(cid, params, NULL));
    ELSE
        PERFORM pgstac.update_collection(libs.cube_collection_doc(cid, params, existing));
    END IF;
    INSERT INTO data.collection_meta AS m (collection_id, kind, source_crs)
    VALUES (cid, new_kind, params ->> 'native_crs')
    ON CONFLICT (collection_id) DO UPDATE SET kind = excluded.kind, updated_at = now(),
        source_crs = coalesce(m.source_crs, excluded.source_crs);
    PERFORM libs.cube_write_rows(cid, params);
    DELETE FROM pgstac.items i WHERE i.collection = cid
        AND i.content -> 'properties' ?| ARRAY['stapi:time_index', 'cube:time_index'];  -- the slices (old and new name)
    PERFORM pgstac.upsert_items(libs.cube_items(cid, params));
    IF EXISTS (SELECT 1 FROM data.feature_collections fc WHERE fc.collection_id = cid) THEN
        PERFORM libs.features_write_extent(cid);  -- a hybrid's extent spans its features and its cube
    END IF;
    RETURN jsonb_build_object('collection_id', cid, 'kind', new_kind, 'previous_store_path', previous,
                              'store_path', params ->> 'store_path',
                              'items', jsonb_array_length(params -> 'times'),
                              'layers', jsonb_array_length(params -> 'layers'));
END
$$;
COMMENT ON FUNCTION api.cube_register(text, jsonb) IS
    'Register (or with "force": true replace) a DataCube: STAC collection with datacube fields, one item per '
    'time slice, and the cube/layer rows the raster worker reads. Called by scripts/upload_local_zarr.py and '
    'POST /collections/{id}/cube in the same transaction as nothing else; returns a summary.';

CREATE OR REPLACE FUNCTION libs.cube_write_rows(cid text, params jsonb) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog AS $$
    DELETE FROM data.cubes WHERE collection_id = cid;
    INSERT INTO data.cubes (collection_id, store_path, source_path, native_crs, resolution, bbox_wgs84, shape,
                            times, attrs, levels)
    VALUES (cid, params ->> 'store_path', params ->> 'source_path', params ->> 'native_crs',
            ARRAY(SELECT jsonb_array_elements_text(params -> 'resolution'))::float8[],
            ARRAY(SELECT jsonb_array_elements_text(params -> 'bbox'))::float8[],
            ARRAY(SELECT jsonb_array_elements_text(params -> 'shape'))::int[],
            ARRAY(SELECT jsonb_array_elements_text(params -> 'times'))::timestamptz[],
            coalesce(params -> 'attrs', '{}'), coalesce(params -> 'levels', '[]'));
    INSERT INTO data.cube_layers (collection_id, name, kind, variable, bands, expression, dtype, units, rescale,
                                  colormap, description, ord)
    SELECT cid, l ->> 'name', l ->> 'kind', l ->> 'variable',
           CASE WHEN l ? 'bands' THEN ARRAY(SELECT jsonb_array_elements_text(l -> 'bands')) END,
           l ->> 'expression', coalesce(l ->> 'dtype', 'float32'), l ->> 'units',
           CASE WHEN l ? 'rescale' THEN ARRAY(SELECT jsonb_array_elements_text(l -> 'rescale'))::float8[] END,
           l ->> 'colormap', l ->> 'description', o::int
    FROM jsonb_array_elements(params -> 'layers') WITH ORDINALITY AS x(l, o);
$$;

CREATE OR REPLACE FUNCTION api.cube_upload_check(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    previous text;
BEGIN
    PERFORM libs.require_writer();
    SELECT c.store_path INTO previous FROM data.cubes c WHERE c.collection_id = cube_upload_check.collection_id;
    IF previous IS NOT NULL AND NOT coalesce((params ->> 'force')::boolean, false) THEN
        RAISE EXCEPTION 'collection % already has a DataCube', collection_id
            USING ERRCODE = '23505', HINT = 'pass --force (HTTP: "force": true) to replace it atomically';
    END IF;
    RETURN jsonb_build_object('collection_id', collection_id, 'exists', previous IS NOT NULL,
                              'store_path', previous);
END
$$;
COMMENT ON FUNCTION api.cube_upload_check(text, jsonb) IS
    'Before an upload writes anything: 409 (23505) when the collection already has a DataCube and params has '
    'no "force": true. api.cube_register checks again under a row lock.';

CREATE OR REPLACE FUNCTION api.cube_stores(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT coalesce(jsonb_object_agg(c.collection_id, c.store_path), '{}') FROM data.cubes c;
$$;
COMMENT ON FUNCTION api.cube_stores(jsonb) IS
    'The registered store of every DataCube, {collection_id: store_path}: what garbage collection of old '
    'store versions must never remove (raster_worker/versions.py).';

CREATE OR REPLACE FUNCTION api.cube_levels_set(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM libs.require_writer();
    IF jsonb_typeof(params -> 'levels') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'levels must be an array of {factor, group, shape, step}' USING ERRCODE = '22023';
    END IF;
    UPDATE data.cubes c SET levels = params -> 'levels', updated_at = now()
    WHERE c.collection_id = cube_levels_set.collection_id AND c.store_path = coalesce(params ->> 'store_path',
                                                                                       c.store_path);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'collection % has no DataCube at %', collection_id, coalesce(params ->> 'store_path', 'any path')
            USING ERRCODE = 'P0002', HINT = 'the cube may have been replaced meanwhile: build its overviews again';
    END IF;
    RETURN jsonb_build_object('collection_id', collection_id, 'levels', params -> 'levels');
END
$$;
COMMENT ON FUNCTION api.cube_levels_set(text, jsonb) IS
    'Record the overview levels built into a cube''s store after its upload (scripts/cube_overviews.py); '
    'params: {"levels": [...], "store_path": the store they were built in (refused if the cube was replaced)}.';
