-- Geometries that clients send as search areas (intersects on /search and /items).

CREATE OR REPLACE FUNCTION libs.search_geometry(geojson jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT SET search_path = pg_catalog, public AS $$
-- A GeoJSON geometry as a search area: 2D, repaired when invalid (a self-intersecting polygon covers what
-- ST_MakeValid says it covers), and with parts beyond longitude 180 (or -180) moved to the other side, so a
-- polygon drawn across the antimeridian as 170..190 covers 170..180 and -180..-170. Anything PostGIS cannot
-- read is a 400 saying why.
DECLARE
    g geometry;
BEGIN
    BEGIN
        g := ST_Force2D(ST_GeomFromGeoJSON(geojson::text));
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'intersects is not a readable GeoJSON geometry: %', SQLERRM USING ERRCODE = '22023';
    END;
    IF ST_IsEmpty(g) THEN
        RETURN geojson;
    END IF;
    IF NOT ST_IsValid(g) THEN
        g := ST_MakeValid(g);
    END IF;
    IF ST_XMax(g) > 180 THEN
        g := ST_WrapX(g, 180, -360);
    END IF;
    IF ST_XMin(g) < -180 THEN
        g := ST_WrapX(g, -180, 360);
    END IF;
    RETURN ST_AsGeoJSON(g, 15)::jsonb;
END
$$;
COMMENT ON FUNCTION libs.search_geometry(jsonb) IS
    'A client''s GeoJSON search geometry made 2D, valid (ST_MakeValid) and wrapped into longitudes -180..180 '
    '(parts beyond the antimeridian move to the other side); 22023 when PostGIS cannot read it.';
