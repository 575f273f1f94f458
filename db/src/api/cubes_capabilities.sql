-- DataCube capabilities and raster TileJSON 3.0 (api.collection_tilejson dispatches raster tilesets here).

CREATE OR REPLACE FUNCTION libs.cube_colormaps() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- The colormap names the raster worker knows (raster_worker/colormaps.py NAMES; '_r' reverses any).
    SELECT '["blues", "brbg", "cividis", "gray", "greens", "greys", "inferno", "magma", "plasma", "rdbu",
             "rdylgn", "reds", "spectral", "turbo", "viridis", "ylgn", "ylorrd"]'::jsonb;
$$;

CREATE OR REPLACE FUNCTION libs.cube_maxzoom(collection_id text) RETURNS int
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- The zoom whose 256-pixel tiles have about the served store's pixel size (EPSG:3857 metres).
    SELECT coalesce(least(24, greatest(0, ceil(ln(40075016.68557849 / 256.0 /
        nullif(abs((c.content -> 'cube:dimensions' -> 'x' ->> 'step')::float8), 0)) / ln(2))))::int, 18)
    FROM pgstac.collections c WHERE c.id = cube_maxzoom.collection_id;
$$;

CREATE OR REPLACE FUNCTION libs.cube_layers_json(collection_id text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
        'name', l.name, 'kind', l.kind, 'dtype', l.dtype, 'units', l.units, 'description', l.description,
        'rescale', to_jsonb(l.rescale), 'colormap', l.colormap, 'bands', to_jsonb(l.bands),
        'expression', l.expression)) ORDER BY l.ord, l.name), '[]')
    FROM data.cube_layers l WHERE l.collection_id = cube_layers_json.collection_id;
$$;

-- libs.cube_default_layer: libs/cube_hrefs.sql (collection documents use it too).

CREATE OR REPLACE FUNCTION libs.cube_require(collection_id text) RETURNS data.cubes
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    c data.cubes;
BEGIN
    PERFORM libs.collection_kind(collection_id);   -- 404 for an unknown collection
    SELECT * INTO c FROM data.cubes WHERE data.cubes.collection_id = cube_require.collection_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'collection % has no DataCube', collection_id
            USING ERRCODE = 'P0002', HINT = 'upload one with scripts/upload_local_zarr.py or POST /collections/'
                                            || collection_id || '/cube';
    END IF;
    RETURN c;
END
$$;

CREATE OR REPLACE FUNCTION api.cube_capabilities(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    c data.cubes := libs.cube_require(collection_id);
    tiles text := libs.url(format('collections/%s/tiles/WebMercatorQuad', collection_id));
BEGIN
    RETURN jsonb_build_object(
        'collection_id', collection_id,
        'kind', libs.collection_kind(collection_id),
        'title', (SELECT p.content ->> 'title' FROM pgstac.collections p WHERE p.id = collection_id),
        'layers', libs.cube_layers_json(collection_id),
        'default_layer', libs.cube_default_layer(collection_id),
        'times', to_jsonb(ARRAY(SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                FROM unnest(c.times) t ORDER BY t)),
        'bbox', to_jsonb(c.bbox_wgs84),
        'crs', c.crs,
        'native_crs', c.native_crs,
        'resolution', to_jsonb(c.resolution),
        'shape', jsonb_build_object('time', c.shape[1], 'y', c.shape[2], 'x', c.shape[3]),
        'overviews', (SELECT coalesce(jsonb_agg(lv -> 'factor' ORDER BY (lv ->> 'factor')::int), '[]')
                      FROM jsonb_array_elements(c.levels) lv),
        'minzoom', 0,
        'maxzoom', libs.cube_maxzoom(collection_id),
        'colormaps', libs.cube_colormaps(),
        'updated', c.updated_at,
        'links', jsonb_build_array(
            libs.link('self', libs.url(format('collections/%s/capabilities', collection_id))),
            libs.link('collection', libs.url('collections/' || collection_id)),
            libs.link('tilejson', tiles || '/tilejson.json', 'application/json', 'TileJSON 3.0 (add ?layers=...)'),
            jsonb_build_object('rel', 'item', 'type', 'image/png', 'templated', true,
                               'title', 'PNG tiles (?layers=&datetime=&colormap=&rescale=&expression=)',
                               'href', tiles || '/{z}/{x}/{y}.png')));
END
$$;
COMMENT ON FUNCTION api.cube_capabilities(text, jsonb) IS
    'GET /collections/{id}/capabilities: a DataCube''s layers (name, kind, dtype, units, default rescale and '
    'colormap), time coordinates, WGS84 bbox, native CRS and resolution, zoom range, colormaps, tile links.';

CREATE OR REPLACE FUNCTION libs.cube_check_layers(collection_id text, names jsonb) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(n, ', ') INTO missing FROM jsonb_array_elements_text(coalesce(names, '[]')) n
    WHERE NOT EXISTS (SELECT 1 FROM data.cube_layers l WHERE l.collection_id = cube_check_layers.collection_id
                      AND lower(l.name) = lower(n));
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'collection % has no layer %', collection_id, missing
            USING ERRCODE = '22023', HINT = 'layers: ' || (SELECT string_agg(l.name, ', ' ORDER BY l.ord)
                FROM data.cube_layers l WHERE l.collection_id = cube_check_layers.collection_id);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION api.cube_tilejson(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    c data.cubes := libs.cube_require(collection_id);
    names text := coalesce((SELECT string_agg(n, ',') FROM jsonb_array_elements_text(params -> 'layers') n),
                           CASE WHEN params ? 'expression' THEN NULL ELSE libs.cube_default_layer(collection_id) END);
    query text := nullif(params ->> 'query', '');
    maxzoom int := libs.cube_maxzoom(collection_id);
BEGIN
    PERFORM libs.cube_check_layers(collection_id, params -> 'layers');
    IF query IS NULL AND names IS NOT NULL THEN
        query := 'layers=' || libs.url_encode(names);
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'tilejson', '3.0.0',
        'name', coalesce((SELECT p.content ->> 'title' FROM pgstac.collections p WHERE p.id = collection_id),
                         collection_id) || coalesce(' - ' || coalesce(names, params ->> 'expression'), ''),
        'description', format('PNG tiles of DataCube %s (%s)', collection_id,
                              coalesce(names, 'expression ' || (params ->> 'expression'))),
        'version', '1.0.0',
        'scheme', 'xyz',
        'tiles', jsonb_build_array(libs.url(format('collections/%s/tiles/WebMercatorQuad/{z}/{x}/{y}.png',
                                                   collection_id)) || coalesce('?' || query, '')),
        'minzoom', 0,
        'maxzoom', maxzoom,
        'bounds', to_jsonb(c.bbox_wgs84),
        'center', libs.bounds_center(c.bbox_wgs84, maxzoom),
        'attribution', (SELECT p.content ->> 'attribution' FROM pgstac.collections p WHERE p.id = collection_id),
        'layers', to_jsonb(string_to_array(names, ',')),
        'times', to_jsonb(ARRAY(SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                FROM unnest(c.times) t ORDER BY t))));
END
$$;
COMMENT ON FUNCTION api.cube_tilejson(text, jsonb) IS
    'TileJSON 3.0 of a DataCube''s PNG tiles (via api.collection_tilejson for a raster tileset). params: '
    'layers (list), expression, query (the tile query string to keep in the tiles URL).';
