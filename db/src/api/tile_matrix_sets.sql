-- OGC Two Dimensional Tile Matrix Set 2.0: WebMercatorQuad, generated from its standard parameters.

CREATE OR REPLACE FUNCTION libs.web_mercator_quad_matrix(z int) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- Cell size at zoom 0: the equator's length (2 pi 6378137 m) over 256 pixels; halved at each zoom.
    -- The scale denominator assumes the standard 0.28 mm pixel.
    SELECT jsonb_build_object(
        'id', z::text,
        'scaleDenominator', round((156543.033928041 / (2 ^ z) / 0.00028)::numeric, 9),
        'cellSize', round((156543.033928041 / (2 ^ z))::numeric, 12),
        'cornerOfOrigin', 'topLeft',
        'pointOfOrigin', jsonb_build_array(-20037508.3427892, 20037508.3427892),
        'tileWidth', 256,
        'tileHeight', 256,
        'matrixWidth', (1::bigint << z),
        'matrixHeight', (1::bigint << z));
$$;

CREATE OR REPLACE FUNCTION api.tile_matrix_set(tile_matrix_set_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF tile_matrix_set_id IS DISTINCT FROM 'WebMercatorQuad' THEN
        RAISE EXCEPTION 'unknown tile matrix set %', tile_matrix_set_id
            USING ERRCODE = 'P0002', HINT = 'this server has WebMercatorQuad (GET /tileMatrixSets)';
    END IF;
    RETURN jsonb_build_object(
        'id', 'WebMercatorQuad',
        'title', 'Google Maps Compatible for the World',
        'uri', 'http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad',
        'crs', 'http://www.opengis.net/def/crs/EPSG/0/3857',
        'orderedAxes', jsonb_build_array('X', 'Y'),
        'wellKnownScaleSet', 'http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible',
        'boundingBox', jsonb_build_object(
            'lowerLeft', jsonb_build_array(-20037508.3427892, -20037508.3427892),
            'upperRight', jsonb_build_array(20037508.3427892, 20037508.3427892),
            'crs', 'http://www.opengis.net/def/crs/EPSG/0/3857'),
        'tileMatrices', (SELECT jsonb_agg(libs.web_mercator_quad_matrix(z) ORDER BY z) FROM generate_series(0, 24) z),
        'links', jsonb_build_array(
            libs.link('self', libs.url('tileMatrixSets/WebMercatorQuad'), 'application/json',
                      'This tile matrix set')));
END
$$;
COMMENT ON FUNCTION api.tile_matrix_set(text, jsonb) IS
    'GET /tileMatrixSets/{tileMatrixSetId}: the OGC 2D TMS 2.0 definition (WebMercatorQuad, zoom 0 to 24).';

CREATE OR REPLACE FUNCTION api.tile_matrix_sets(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_object(
        'tileMatrixSets', jsonb_build_array(jsonb_build_object(
            'id', 'WebMercatorQuad',
            'title', 'Google Maps Compatible for the World',
            'uri', 'http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad',
            'crs', 'http://www.opengis.net/def/crs/EPSG/0/3857',
            'links', jsonb_build_array(
                libs.link('self', libs.url('tileMatrixSets/WebMercatorQuad'), 'application/json', 'WebMercatorQuad'),
                libs.link('http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme',
                          libs.url('tileMatrixSets/WebMercatorQuad'), 'application/json', 'WebMercatorQuad')))),
        'links', jsonb_build_array(
            libs.link('self', libs.url('tileMatrixSets'), 'application/json', 'Tile matrix sets'),
            libs.link('root', libs.url(''), 'application/json', 'Landing page')));
$$;
COMMENT ON FUNCTION api.tile_matrix_sets(jsonb) IS 'GET /tileMatrixSets: the tile matrix sets this server tiles in.';
