-- CQL2 filters of STAC item searches, rewritten into the cql2-json pgSTAC's translator (pgstac.cql2_query)
-- reads correctly. pgSTAC takes the first argument of a spatial function for the item geometry and the
-- second for a literal with coordinates (or a bbox array), has no DATE literal, names A_CONTAINEDBY
-- a_contained_by and has no %, div or ^. Everything the CQL2 conformance classes we declare allow is
-- rewritten here into what pgSTAC answers right; what it cannot answer is a 400 naming it.

-- A spatial function with the literal first and the geometry second, as the same test the other way round.
CREATE OR REPLACE FUNCTION libs.stac_cql2_spatial(op text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    geom jsonb;
BEGIN
    IF jsonb_typeof(args) = 'array' AND jsonb_array_length(args) = 2
       AND NOT (args -> 0) ? 'property' AND (args -> 1) ? 'property' THEN
        op := CASE op WHEN 's_contains' THEN 's_within' WHEN 's_within' THEN 's_contains' ELSE op END;
        args := jsonb_build_array(args -> 1, args -> 0);
    END IF;
    geom := args -> 1;
    -- of members all of one type: the Multi geometry of them, the same point set
    IF geom ->> 'type' = 'GeometryCollection' AND (SELECT count(DISTINCT g ->> 'type') = 1
            AND min(g ->> 'type') IN ('Point', 'LineString', 'Polygon')
            FROM jsonb_array_elements(geom -> 'geometries') g) THEN
        RETURN jsonb_build_object('op', op, 'args', jsonb_build_array(args -> 0, (
            SELECT jsonb_build_object('type', 'Multi' || min(g ->> 'type'),
                                      'coordinates', jsonb_agg(g -> 'coordinates'))
            FROM jsonb_array_elements(geom -> 'geometries') g)));
    END IF;
    -- of mixed members: pgSTAC reads a literal only when it has 'coordinates' (pgstac.spatial_op_query), and
    -- PostGIS's st_geomfromgeojson reads a GeometryCollection's 'geometries' beside an empty one
    IF geom ->> 'type' = 'GeometryCollection' THEN
        RETURN jsonb_build_object('op', op, 'args', jsonb_build_array(args -> 0,
                                                                      geom || '{"coordinates": []}'));
    END IF;
    RETURN jsonb_build_object('op', op, 'args', args);
END
$$;
COMMENT ON FUNCTION libs.stac_cql2_spatial(text, jsonb) IS
    'A CQL2 spatial function node as pgSTAC reads it: the item geometry first (S_CONTAINS and S_WITHIN swap), '
    'a GeometryCollection literal as the Multi geometry of its members (all of one type), or as itself with an '
    'empty coordinates member (mixed members), which pgSTAC then reads.';

CREATE OR REPLACE FUNCTION libs.stac_cql2_op(op text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    op := lower(op);
    IF op = 'envelope' THEN                     -- cql2-text ENVELOPE(...) as the parser hands it over
        IF jsonb_typeof(args) <> 'array' OR jsonb_array_length(args) NOT IN (4, 6)
           OR jsonb_path_exists(args, 'strict $[*] ? (@.type() != "number")') THEN
            RAISE EXCEPTION 'filter: ENVELOPE needs 4 or 6 numbers, got %', left(args::text, 100)
                USING ERRCODE = '22023', HINT = 'ENVELOPE(minx, miny, maxx, maxy), read as BBOX(...)';
        END IF;
        RETURN libs.stac_bbox_geometry(args);
    ELSIF op IN ('%', 'div', '^') THEN
        RAISE EXCEPTION 'filter: the arithmetic operator % is not supported on STAC items', op
            USING ERRCODE = '22023', HINT = '+, -, * and / are; feature collections support all of CQL2 arithmetic';
    ELSIF op = 'a_containedby' THEN
        op := 'a_contained_by';
    ELSIF op LIKE 's\_%' OR op = 'intersects' THEN
        RETURN libs.stac_cql2_spatial(op, args);
    END IF;
    RETURN jsonb_build_object('op', op, 'args', args);
END
$$;
COMMENT ON FUNCTION libs.stac_cql2_op(text, jsonb) IS
    'One CQL2 operator node (its arguments already rewritten) as pgSTAC reads it; 22023 for what it cannot.';

CREATE OR REPLACE FUNCTION libs.stac_cql2(expr jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- cql2-json as pgSTAC reads it: a BBOX literal ({"bbox": [...]}) becomes a GeoJSON geometry, a DATE literal
-- the timestamp of its start (UTC), operator nodes go through libs.stac_cql2_op.
BEGIN
    RETURN (SELECT CASE
        WHEN jsonb_typeof(expr) = 'object' AND jsonb_typeof(expr -> 'bbox') = 'array'
             AND NOT expr ? 'op' AND NOT expr ? 'type' THEN libs.stac_bbox_geometry(expr -> 'bbox')
        WHEN jsonb_typeof(expr) = 'object' AND jsonb_typeof(expr -> 'date') = 'string' AND NOT expr ? 'op'
             THEN jsonb_build_object('timestamp', (expr ->> 'date') || 'T00:00:00Z')
        WHEN jsonb_typeof(expr) = 'object' AND jsonb_typeof(expr -> 'op') = 'string' AND expr ? 'args'
             THEN libs.stac_cql2_op(expr ->> 'op', libs.stac_cql2(expr -> 'args'))
        WHEN jsonb_typeof(expr) = 'object' THEN
            (SELECT coalesce(jsonb_object_agg(key, libs.stac_cql2(value)), '{}') FROM jsonb_each(expr))
        WHEN jsonb_typeof(expr) = 'array' THEN
            (SELECT coalesce(jsonb_agg(libs.stac_cql2(value) ORDER BY n), '[]')
             FROM jsonb_array_elements(expr) WITH ORDINALITY AS t(value, n))
        ELSE expr END);
END
$$;
COMMENT ON FUNCTION libs.stac_cql2(jsonb) IS
    'A cql2-json filter rewritten for pgstac.search (bbox and date literals, argument order, operator names).';
