-- Raster analytics: the zones a time series or summary aggregates over, as EPSG:3857 GeoJSON for the worker.
-- The raster worker reads the pixels; SQL says where the cube is (api.raster_source) and which areas count.

CREATE OR REPLACE FUNCTION libs.analytics_area(params jsonb) RETURNS geometry
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
-- The request's area in WGS84: params.bbox [minx, miny, maxx, maxy] or params.intersects (GeoJSON); NULL if neither.
DECLARE
    b jsonb := params -> 'bbox';
BEGIN
    IF b IS NOT NULL AND params ? 'intersects' THEN
        RAISE EXCEPTION 'give either bbox or intersects, not both' USING ERRCODE = '22023';
    END IF;
    IF b IS NOT NULL THEN
        IF jsonb_array_length(b) <> 4 OR (b ->> 0)::float8 >= (b ->> 2)::float8
           OR (b ->> 1)::float8 >= (b ->> 3)::float8 THEN
            RAISE EXCEPTION 'bbox % is empty or inverted', b
                USING ERRCODE = '22023', HINT = 'bbox is minx,miny,maxx,maxy with minx < maxx and miny < maxy';
        END IF;
        RETURN ST_MakeEnvelope((b ->> 0)::float8, (b ->> 1)::float8, (b ->> 2)::float8, (b ->> 3)::float8, 4326);
    END IF;
    IF params ? 'intersects' THEN
        RETURN ST_SetSRID(ST_GeomFromGeoJSON(params ->> 'intersects'), 4326);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION libs.analytics_geojson_3857(geom geometry) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
    -- Clipped to the latitudes Web Mercator can hold, then projected.
    SELECT ST_AsGeoJSON(ST_Transform(ST_Intersection(
        geom, ST_MakeEnvelope(-180, -85.05112878, 180, 85.05112878, 4326)), 3857))::jsonb;
$$;

CREATE OR REPLACE FUNCTION libs.analytics_feature_zones(collection_id text, area geometry, params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
-- The features of a hybrid collection as zones, narrowed by the area and a CQL2 filter (libs.cql2_to_sql:
-- properties typed from the collection's data when it has a feature_collections row).
DECLARE
    max_zones int := coalesce((params ->> 'max_zones')::int, 10000);
    typed text := (SELECT fc.collection_id FROM data.feature_collections fc
                   WHERE fc.collection_id = analytics_feature_zones.collection_id);
    clause text := libs.cql2_to_sql(params -> 'filter', typed, 'f');
    out jsonb;
    n int;
BEGIN
    EXECUTE format(
        'SELECT count(*), jsonb_agg(jsonb_build_object(''id'', f.id, ''geometry'', '
        'libs.analytics_geojson_3857(f.geom)) ORDER BY f.id) FROM data.features f '
        'WHERE f.collection_id = $1 AND pg_catalog.hashtext(f.collection_id) = pg_catalog.hashtext($1) '
        'AND ($2::geometry IS NULL OR public.st_intersects(f.geom, $2)) AND (%s)',
        clause) INTO n, out USING collection_id, area;
    IF n > max_zones THEN
        RAISE EXCEPTION 'groupby=feature selects % features; the limit is %', n, max_zones
            USING ERRCODE = 'PT413', HINT = 'narrow the features with bbox, intersects or filter';
    END IF;
    RETURN coalesce(out, '[]');
END
$$;

CREATE OR REPLACE FUNCTION api.analytics_zones(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    area geometry := libs.analytics_area(params);
    kind text;
BEGIN
    SELECT m.kind INTO kind FROM data.collection_meta m WHERE m.collection_id = analytics_zones.collection_id;
    IF params ->> 'groupby' = 'feature' THEN
        IF kind IS DISTINCT FROM 'hybrid' THEN
            RAISE EXCEPTION 'groupby=feature needs a hybrid collection (a cube with features); % is %',
                collection_id, coalesce(kind, 'unknown') USING ERRCODE = '22023';
        END IF;
        RETURN libs.analytics_feature_zones(collection_id, area, params);
    END IF;
    IF area IS NULL THEN
        SELECT ST_MakeEnvelope(c.bbox_wgs84[1], c.bbox_wgs84[2], c.bbox_wgs84[3], c.bbox_wgs84[4], 4326)
        INTO area FROM data.cubes c WHERE c.collection_id = analytics_zones.collection_id;
    END IF;
    RETURN jsonb_build_array(jsonb_build_object('id', 'area', 'geometry', libs.analytics_geojson_3857(area)));
END
$$;
COMMENT ON FUNCTION api.analytics_zones(text, jsonb) IS
    'The areas an aggregation runs over, as [{id, geometry}] in EPSG:3857 GeoJSON: the bbox or intersects '
    'geometry (default: the cube''s bbox), or with groupby=feature each feature of the hybrid collection '
    '(narrowed by bbox/intersects).';

CREATE OR REPLACE FUNCTION api.analytics_source(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    source jsonb := api.raster_source(collection_id);  -- first: an unknown collection is a 404
BEGIN
    RETURN source || jsonb_build_object('zones', api.analytics_zones(collection_id, params));
END
$$;
COMMENT ON FUNCTION api.analytics_source(text, jsonb) IS
    'What the raster worker needs for an aggregation: api.raster_source plus the zones (api.analytics_zones).';
