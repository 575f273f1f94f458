-- OGC API Tiles tileset lists and tileset metadata, and TileJSON 3.0, for every kind of collection.

CREATE OR REPLACE FUNCTION libs.features_bounds(collection_id text) RETURNS double precision[]
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
    -- [minx, miny, maxx, maxy] in WGS84 of a collection's features (clamped to Web Mercator's latitudes):
    -- the box the features' triggers keep in data.feature_collections, else computed.
    SELECT ARRAY[greatest(b[1], -180), greatest(b[2], -85.0511287798066),
                 least(b[3], 180), least(b[4], 85.0511287798066)]
    FROM (SELECT coalesce(
              (SELECT fc.bbox FROM data.feature_collections fc
               WHERE fc.collection_id = features_bounds.collection_id AND cardinality(fc.bbox) = 4),
              (SELECT ARRAY[ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)]
               FROM (SELECT ST_Extent(f.geom) AS e FROM data.features f
                     WHERE f.collection_id = features_bounds.collection_id) s WHERE e IS NOT NULL)) AS b) s
    WHERE b IS NOT NULL;
$$;

CREATE OR REPLACE FUNCTION libs.tileset_bounds(collection_id text, data_type text) RETURNS double precision[]
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
    SELECT coalesce(
        CASE WHEN data_type = 'vector' THEN libs.features_bounds(collection_id)
             ELSE (SELECT c.bbox_wgs84 FROM data.cubes c WHERE c.collection_id = tileset_bounds.collection_id) END,
        ARRAY[-180, -85.0511287798066, 180, 85.0511287798066]::double precision[]);
$$;

CREATE OR REPLACE FUNCTION libs.bounds_center(b double precision[], maxzoom int DEFAULT 22) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- [lon, lat, zoom]: the middle of the bounds at the zoom where they fill about one 256-pixel tile.
    SELECT jsonb_build_array((b[1] + b[3]) / 2, (b[2] + b[4]) / 2,
        least(maxzoom, greatest(0, floor(ln(360.0 / greatest(b[3] - b[1], b[4] - b[2], 1e-6)) / ln(2))))::int);
$$;

CREATE OR REPLACE FUNCTION libs.features_fields(collection_id text, only_names text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- TileJSON field types (Number, String, Boolean) of the properties: from the property kinds the features'
    -- triggers keep (the queryables), else from up to 10,000 features. Mixed kinds, objects, arrays, dates
    -- are Strings in the tile.
    WITH kinds AS (
        SELECT k.key, k.value #>> '{}' AS kind
        FROM data.feature_collections fc, jsonb_each(fc.property_kinds) k
        WHERE fc.collection_id = features_fields.collection_id AND jsonb_typeof(k.value) = 'string'
    ), sampled AS (
        SELECT e.key, CASE WHEN count(DISTINCT jsonb_typeof(e.value)) = 1 THEN min(jsonb_typeof(e.value)) END AS kind
        FROM (SELECT f.properties FROM data.features f
              WHERE f.collection_id = features_fields.collection_id LIMIT 10000) s, jsonb_each(s.properties) e
        WHERE jsonb_typeof(e.value) <> 'null' AND NOT EXISTS (SELECT 1 FROM kinds)
        GROUP BY e.key
    ), types AS (
        SELECT key, CASE WHEN kind IN ('number', 'integer') THEN 'Number' WHEN kind = 'boolean' THEN 'Boolean'
                         ELSE 'String' END AS t
        FROM (SELECT * FROM kinds UNION ALL SELECT * FROM sampled) k
        WHERE only_names IS NULL OR key = ANY (only_names)
    )
    SELECT jsonb_build_object('id', 'String') || coalesce(jsonb_object_agg(key, t), '{}') FROM types;
$$;

CREATE OR REPLACE FUNCTION libs.features_minzoom(collection_id text, budget int DEFAULT 8000) RETURNS int
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    -- The lowest zoom whose tiles hold at most about `budget` features (about 500 KB with a few properties
    -- each), were the features spread evenly over their box. TileJSON advertises it as minzoom so that clients
    -- do not ask for tiles of megabytes; lower zooms are still served, every feature kept.
    n bigint := (SELECT count(*) FROM data.features f WHERE f.collection_id = features_minzoom.collection_id);
    b double precision[];
    e geometry;
    side double precision;
BEGIN
    IF n <= budget THEN
        RETURN 0;
    END IF;
    b := libs.features_bounds(collection_id);
    e := ST_Transform(ST_MakeEnvelope(b[1], b[2], b[3], b[4], 4326), 3857);
    FOR z IN 0..14 LOOP
        side := 40075016.68557849 / (2 ^ z);
        IF n * least(1, side / greatest(ST_XMax(e) - ST_XMin(e), 1))
             * least(1, side / greatest(ST_YMax(e) - ST_YMin(e), 1)) <= budget THEN
            RETURN z;
        END IF;
    END LOOP;
    RETURN 14;
END
$$;
COMMENT ON FUNCTION libs.features_minzoom(text, int) IS
    'The lowest zoom at which a collection''s vector tiles hold about `budget` features at most (TileJSON minzoom).';

CREATE OR REPLACE FUNCTION libs.tileset_links(collection_id text, tileset_id text, data_type text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_array(
        libs.link('self', libs.url(format('collections/%s/tiles/%s', collection_id, tileset_id)),
                  'application/json', 'Tileset metadata'),
        libs.link('http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme',
                  libs.url('tileMatrixSets/WebMercatorQuad'), 'application/json', 'WebMercatorQuad'),
        libs.link('http://www.opengis.net/def/rel/ogc/1.0/geodata', libs.url('collections/' || collection_id),
                  'application/json', 'The collection'),
        libs.link('alternate', libs.url(format('collections/%s/tiles/%s/tilejson.json', collection_id, tileset_id)),
                  'application/json', 'TileJSON 3.0'),
        libs.link('stylesheet', libs.url(format('collections/%s/styles/default', collection_id)),
                  'application/vnd.mapbox.style+json', 'MapLibre style'))
        || jsonb_build_object('rel', 'item', 'templated', true,
               'href', libs.url(format('collections/%s/tiles/%s/{tileMatrix}/{tileCol}/{tileRow}%s',
                                       collection_id, tileset_id, CASE WHEN data_type = 'map' THEN '.png' END)),
               'type', CASE WHEN data_type = 'map' THEN 'image/png' ELSE 'application/vnd.mapbox-vector-tile' END,
               'title', CASE WHEN data_type = 'map' THEN 'PNG tiles' ELSE 'Mapbox vector tiles' END);
$$;

CREATE OR REPLACE FUNCTION libs.tileset_item(collection_id text, tileset_id text, data_type text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_object(
        'title', format('%s (%s tiles)', collection_id, data_type),
        'dataType', data_type,
        'crs', 'http://www.opengis.net/def/crs/EPSG/0/3857',
        'tileMatrixSetURI', 'http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad',
        'links', libs.tileset_links(collection_id, tileset_id, data_type));
$$;

CREATE OR REPLACE FUNCTION api.collection_tilesets(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_object(
        'tilesets', coalesce((SELECT jsonb_agg(libs.tileset_item(collection_id, t.tileset_id, t.data_type))
                              FROM libs.tilesets(libs.collection_kind(collection_id)) t), '[]'),
        'links', jsonb_build_array(
            libs.link('self', libs.url(format('collections/%s/tiles', collection_id)), 'application/json',
                      'Tilesets of ' || collection_id),
            libs.link('collection', libs.url('collections/' || collection_id), 'application/json',
                      'The collection')));
$$;
COMMENT ON FUNCTION api.collection_tilesets(text, jsonb) IS
    'GET /collections/{id}/tiles: the tilesets of a collection (vector for features, map for cubes, both for '
    'hybrids), 404 for an unknown collection.';

CREATE OR REPLACE FUNCTION api.collection_tileset(collection_id text, tileset_id text, params jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    dt text := libs.tileset_type(collection_id, tileset_id);
    b double precision[] := libs.tileset_bounds(collection_id, dt);
    center jsonb := libs.bounds_center(b);
BEGIN
    RETURN libs.tileset_item(collection_id, tileset_id, dt) || jsonb_build_object(
        'description', format('%s tiles of collection %s in WebMercatorQuad', dt, collection_id),
        'mediaTypes', CASE WHEN dt = 'map' THEN '["image/png"]'::jsonb
                           ELSE '["application/vnd.mapbox-vector-tile"]'::jsonb END,
        'boundingBox', jsonb_build_object('lowerLeft', jsonb_build_array(b[1], b[2]),
                                          'upperRight', jsonb_build_array(b[3], b[4]),
                                          'crs', 'http://www.opengis.net/def/crs/OGC/1.3/CRS84'),
        'centerPoint', jsonb_build_object('coordinates', jsonb_build_array(center -> 0, center -> 1),
                                          'crs', 'http://www.opengis.net/def/crs/OGC/1.3/CRS84',
                                          'tileMatrix', (center ->> 2)),
        'layers', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'id', collection_id,
            'dataType', dt,
            'propertiesSchema', CASE WHEN dt = 'vector' THEN jsonb_build_object('type', 'object',
                'properties', (SELECT coalesce(jsonb_object_agg(k, jsonb_build_object('type',
                                   CASE v #>> '{}' WHEN 'Number' THEN 'number' WHEN 'Boolean' THEN 'boolean'
                                   ELSE 'string' END)), '{}')
                               FROM jsonb_each(libs.features_fields(collection_id)) AS p (k, v))) END))));
END
$$;
COMMENT ON FUNCTION api.collection_tileset(text, text, jsonb) IS
    'GET /collections/{id}/tiles/{tilesetId}: OGC tileset metadata (links to the tiles, TileJSON, style).';

CREATE OR REPLACE FUNCTION api.collection_tilejson(collection_id text, tileset_id text, params jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    dt text := libs.tileset_type(collection_id, tileset_id);
    b double precision[];
    title text;
    minzoom int;
    center jsonb;
BEGIN
    IF dt = 'map' THEN
        RETURN api.cube_tilejson(collection_id, params);   -- the cubes' raster TileJSON
    END IF;
    b := libs.tileset_bounds(collection_id, dt);
    minzoom := libs.features_minzoom(collection_id);
    center := libs.bounds_center(b);
    SELECT coalesce(c.content ->> 'title', c.id) INTO title FROM pgstac.collections c WHERE c.id = collection_id;
    RETURN jsonb_build_object(
        'tilejson', '3.0.0',
        'name', title,
        'description', format('Vector tiles of collection %s', collection_id),
        'version', '1.0.0',
        'scheme', 'xyz',
        'tiles', jsonb_build_array(libs.url(format('collections/%s/tiles/%s/{z}/{x}/{y}', collection_id, tileset_id))
                                   || coalesce('?' || nullif(params ->> 'query', ''), '')),
        'minzoom', minzoom,
        'maxzoom', 22,
        'bounds', to_jsonb(b),
        'center', jsonb_set(center, '{2}', to_jsonb(greatest((center ->> 2)::int, minzoom))),
        'vector_layers', jsonb_build_array(jsonb_build_object(
            'id', collection_id,
            'description', title,
            'minzoom', minzoom,
            'maxzoom', 22,
            'fields', libs.features_fields(collection_id, libs.tile_properties(params)))));
END
$$;
COMMENT ON FUNCTION api.collection_tilejson(text, text, jsonb) IS
    'GET /collections/{id}/tiles/{tilesetId}/tilejson.json: TileJSON 3.0 (vector_layers with field types from '
    'the data, minzoom from libs.features_minzoom); for a raster tileset, the cubes'' api.cube_tilejson. '
    'params.query: the tile query string to keep.';
