-- MapLibre GL style documents per collection: the vector tiles (and a hybrid's or cube's raster tiles).

CREATE OR REPLACE FUNCTION libs.features_dimensions(collection_id text) RETURNS int[]
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
    -- The geometry dimensions (0 points, 1 lines, 2 polygons) found in up to 10,000 features.
    SELECT coalesce(array_agg(DISTINCT ST_Dimension(s.geom) ORDER BY ST_Dimension(s.geom)), '{}')
    FROM (SELECT f.geom FROM data.features f WHERE f.collection_id = features_dimensions.collection_id
          LIMIT 10000) s;
$$;

CREATE OR REPLACE FUNCTION libs.vector_style_layers(source text, layer text, dims int[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- fill + outline for polygons, line for lines, circle for points: each filtered by geometry type.
    SELECT coalesce(jsonb_agg(l.doc ORDER BY l.ord), '[]') FROM (VALUES
        (1, 2, jsonb_build_object('id', layer || '-fill', 'type', 'fill', 'source', source, 'source-layer', layer,
            'filter', '["==", ["geometry-type"], "Polygon"]'::jsonb,
            'paint', '{"fill-color": "#e4572e", "fill-opacity": 0.45}'::jsonb)),
        (2, 2, jsonb_build_object('id', layer || '-outline', 'type', 'line', 'source', source, 'source-layer', layer,
            'filter', '["==", ["geometry-type"], "Polygon"]'::jsonb,
            'paint', '{"line-color": "#8c2a12", "line-width": 1}'::jsonb)),
        (3, 1, jsonb_build_object('id', layer || '-line', 'type', 'line', 'source', source, 'source-layer', layer,
            'filter', '["==", ["geometry-type"], "LineString"]'::jsonb,
            'paint', '{"line-color": "#1f6feb", "line-width": 2}'::jsonb)),
        (4, 0, jsonb_build_object('id', layer || '-circle', 'type', 'circle', 'source', source, 'source-layer', layer,
            'filter', '["==", ["geometry-type"], "Point"]'::jsonb,
            'paint', '{"circle-color": "#2a9d8f", "circle-radius": 4, "circle-stroke-color": "#ffffff",
                       "circle-stroke-width": 1}'::jsonb))
    ) AS l (ord, dim, doc)
    WHERE l.dim = ANY (dims);
$$;

CREATE OR REPLACE FUNCTION api.collection_style(collection_id text, style_id text DEFAULT 'default',
                                                params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    kind text := libs.collection_kind(collection_id);
    sources jsonb := '{}';
    layers jsonb := '[]';
    vector_ts text;
    b double precision[];
BEGIN
    IF style_id IS DISTINCT FROM 'default' THEN
        RAISE EXCEPTION 'collection % has no style %', collection_id, style_id
            USING ERRCODE = 'P0002', HINT = 'its style is default';
    END IF;
    IF kind = 'stac' THEN
        RAISE EXCEPTION 'collection % has no tiles to style', collection_id USING ERRCODE = 'P0002';
    END IF;
    IF kind IN ('cube', 'hybrid') THEN
        sources := jsonb_build_object('raster', jsonb_build_object('type', 'raster', 'tileSize', 256,
            'url', libs.url(format('collections/%s/tiles/WebMercatorQuad/tilejson.json', collection_id))));
        layers := jsonb_build_array(jsonb_build_object('id', collection_id || '-raster', 'type', 'raster',
                                                       'source', 'raster'));
        b := libs.tileset_bounds(collection_id, 'map');
    END IF;
    IF kind IN ('features', 'hybrid') THEN
        vector_ts := CASE kind WHEN 'hybrid' THEN 'WebMercatorQuad-Vector' ELSE 'WebMercatorQuad' END;
        sources := sources || jsonb_build_object('vector', jsonb_build_object('type', 'vector',
            'url', libs.url(format('collections/%s/tiles/%s/tilejson.json', collection_id, vector_ts))));
        layers := layers || libs.vector_style_layers('vector', collection_id, libs.features_dimensions(collection_id));
        b := libs.tileset_bounds(collection_id, 'vector');
    END IF;
    RETURN jsonb_build_object(
        'version', 8,
        'name', collection_id,
        'center', jsonb_build_array((b[1] + b[3]) / 2, (b[2] + b[4]) / 2),
        'zoom', greatest((libs.bounds_center(b) ->> 2)::int,
                         CASE WHEN kind IN ('features', 'hybrid') THEN libs.features_minzoom(collection_id) ELSE 0 END),
        'sources', sources,
        'layers', layers);
END
$$;
COMMENT ON FUNCTION api.collection_style(text, text, jsonb) IS
    'GET /collections/{id}/styles/default: a MapLibre GL style (v8) drawing the collection''s vector tiles '
    '(fill/outline, line, circle by geometry type) over its raster tiles (cube, hybrid).';
