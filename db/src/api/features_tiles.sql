-- Vector tiles (MVT) of feature collections, cut in SQL with ST_TileEnvelope / ST_AsMVTGeom / ST_AsMVT.
-- Tilesets: a 'features' collection has the vector tileset 'WebMercatorQuad'; a 'hybrid' collection has the
-- raster tileset 'WebMercatorQuad' (PNG, the cubes' route) and the vector tileset 'WebMercatorQuad-Vector';
-- a 'cube' has the raster 'WebMercatorQuad'. 'WebMercatorQuad-Vector' is accepted for 'features' too.

-- libs.collection_kind(id) (api/stac.sql): the collection's kind, 404 for an unknown id.

CREATE OR REPLACE FUNCTION libs.tilesets(kind text) RETURNS TABLE (tileset_id text, data_type text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- The tilesets a kind of collection has, in listing order ('vector' = MVT, 'map' = PNG).
    SELECT t.id, t.dt FROM (VALUES
        ('features', 'WebMercatorQuad', 'vector', 1),
        ('cube', 'WebMercatorQuad', 'map', 1),
        ('hybrid', 'WebMercatorQuad', 'map', 1),
        ('hybrid', 'WebMercatorQuad-Vector', 'vector', 2)) AS t (kind, id, dt, ord)
    WHERE t.kind = tilesets.kind
    ORDER BY t.ord;
$$;
COMMENT ON FUNCTION libs.tilesets(text) IS 'The tilesets (id, dataType) a kind of collection serves.';

CREATE OR REPLACE FUNCTION libs.tileset_type(collection_id text, tileset_id text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    k text := libs.collection_kind(collection_id);
    dt text;
BEGIN
    SELECT t.data_type INTO dt FROM libs.tilesets(k) t WHERE t.tileset_id = tileset_type.tileset_id;
    IF dt IS NULL AND k = 'features' AND tileset_id = 'WebMercatorQuad-Vector' THEN
        dt := 'vector';
    END IF;
    IF dt IS NULL THEN
        RAISE EXCEPTION 'collection % has no tileset %', collection_id, tileset_id
            USING ERRCODE = 'P0002',
                  HINT = format('its tilesets: %s (GET /collections/%s/tiles)',
                                coalesce((SELECT string_agg(t.tileset_id, ', ') FROM libs.tilesets(k) t), 'none'),
                                collection_id);
    END IF;
    RETURN dt;
END
$$;
COMMENT ON FUNCTION libs.tileset_type(text, text) IS
    'vector or map: the data type of a collection''s tileset; 404 (P0002) when it has no such tileset.';

CREATE OR REPLACE FUNCTION libs.tile_check(z int, x int, y int) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF z IS NULL OR z < 0 OR z > 24 THEN
        RAISE EXCEPTION 'tile matrix % does not exist in WebMercatorQuad', z
            USING ERRCODE = 'P0002', HINT = 'the tile matrices (zoom levels) are 0 to 24';
    END IF;
    IF x IS NULL OR y IS NULL OR x < 0 OR y < 0 OR x >= (1::bigint << z) OR y >= (1::bigint << z) THEN
        RAISE EXCEPTION 'tile %/%/% is outside tile matrix %', z, x, y, z
            USING ERRCODE = 'P0002', HINT = format('at zoom %s, x and y are 0 to %s', z, (1::bigint << z) - 1);
    END IF;
END
$$;
COMMENT ON FUNCTION libs.tile_check(int, int, int) IS
    'Raises 404 (P0002) unless z/x/y is a tile of WebMercatorQuad (zoom 0 to 24).';

CREATE OR REPLACE FUNCTION libs.tile_properties(params jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    -- params.properties: the property names to put in the tile (NULL: all of them).
    IF params -> 'properties' IS NULL OR jsonb_typeof(params -> 'properties') = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(params -> 'properties') <> 'array' THEN
        RAISE EXCEPTION 'properties must be a list of property names, got %', params -> 'properties'
            USING ERRCODE = '22023';
    END IF;
    RETURN ARRAY(SELECT jsonb_array_elements_text(params -> 'properties'));
END
$$;

CREATE OR REPLACE FUNCTION libs.tile_filter_sql(collection_id text, filter jsonb) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    clause text;
BEGIN
    -- A CQL2 (cql2-json) filter as a WHERE clause over data.features f, by the features' CQL2 translator.
    IF to_regproc('libs.cql2_to_sql') IS NULL THEN
        RAISE EXCEPTION 'filter is not supported on tiles yet (no CQL2 translator is installed)'
            USING ERRCODE = '22023', HINT = 'request the tile without filter';
    END IF;
    EXECUTE 'SELECT libs.cql2_to_sql($1, $2, $3)' INTO clause USING filter, collection_id, 'f';
    RETURN clause;
END
$$;

-- libs.mvt_geom and libs.mvt_marker are plain SQL expressions WITHOUT a pinned search_path on purpose:
-- PostgreSQL inlines such functions into the tile query (a SET clause would prevent it, and then every
-- feature would pay a function call); they name PostGIS schema-qualified instead.
CREATE OR REPLACE FUNCTION libs.mvt_marker(g geometry, unit double precision) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- What stands in for a feature too small to show at this zoom: a 2-unit square (polygons) or a
    -- 2-unit segment (lines) at a point on it; points never collapse.
    SELECT CASE public.st_dimension(g)
        WHEN 2 THEN public.st_expand(public.st_pointonsurface(g), unit)
        WHEN 1 THEN public.st_makeline(public.st_pointonsurface(g),
                                       public.st_translate(public.st_pointonsurface(g), 2 * unit, 0))
        END;
$$;

CREATE OR REPLACE FUNCTION libs.mvt_nonempty(g geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT CASE WHEN public.st_isempty(g) THEN NULL ELSE g END;
$$;

CREATE OR REPLACE FUNCTION libs.mvt_geom(g geometry, bounds geometry, inner_bounds geometry, unit double precision)
RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- A feature's geometry (EPSG:3857) in tile coordinates (extent 4096, buffer 64), simplified to the grid.
    -- Fast path, for a feature whose box lies inside the buffered tile (no clipping needed): one affine
    -- transform to tile units, Douglas-Peucker at one unit, snap to the integer grid, exterior rings
    -- counter-clockwise in tile coordinates (what ST_AsMVTGeom produces: clockwise on screen, y down).
    -- Otherwise (and for geometry collections, which MVT cannot hold: ST_AsMVTGeom keeps their highest
    -- dimension) ST_AsMVTGeom clips. A feature that collapses becomes its marker (libs.mvt_marker).
    SELECT coalesce(
        CASE WHEN g OPERATOR(public.@) inner_bounds AND public.st_geometrytype(g) <> 'ST_GeometryCollection'
             THEN libs.mvt_nonempty(public.st_forcepolygonccw(public.st_snaptogrid(public.st_simplify(
                      public.st_affine(g, 1 / unit, 0, 0, -1 / unit, -public.st_xmin(bounds) / unit,
                                       public.st_ymax(bounds) / unit), 1), 1)))
             ELSE public.st_asmvtgeom(public.st_simplify(g, unit), bounds::public.box2d, 4096, 64, true) END,
        public.st_asmvtgeom(libs.mvt_marker(g, unit), bounds::public.box2d, 4096, 64, true));
$$;
COMMENT ON FUNCTION libs.mvt_geom(geometry, geometry, geometry, double precision) IS
    'A feature geometry (EPSG:3857) in MVT tile coordinates: simplified, clipped when needed, never dropped.';

CREATE OR REPLACE FUNCTION libs.features_tile_sql(where_extra text DEFAULT 'TRUE') RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- The tile query with an extra WHERE condition over data.features f (a CQL2 filter), for EXECUTE.
    -- $1 collection id, $2 tile envelope (3857), $3 envelope + buffer, $4 one tile unit (tile width / 4096),
    -- $5 property names (NULL: all), $6 layer name. The same query as the static one in api.features_tile.
    SELECT format($q$
        SELECT coalesce(ST_AsMVT(t.*, $6, 4096, 'geom', 'fid'), ''::bytea)
        FROM (SELECT libs.mvt_geom(f.geom_3857, $2, $3, $4) AS geom, f.seq AS fid, f.id,
                     CASE WHEN $5 IS NULL THEN f.properties ELSE libs.jsonb_pick(f.properties, $5) END AS properties
              FROM data.features f
              WHERE f.collection_id = $1 AND hashtext(f.collection_id) = hashtext($1) AND f.geom_3857 && $3
                AND (%s)) t $q$, where_extra);
$$;
COMMENT ON FUNCTION libs.features_tile_sql(text) IS
    'The SQL text of the vector tile query, with an extra WHERE condition over data.features f.';

CREATE OR REPLACE FUNCTION api.features_tile(collection_id text, z int, x int, y int, params jsonb DEFAULT '{}')
RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    env geometry;
    inner_env geometry;
    unit double precision;
    names text[] := libs.tile_properties(params);
    tile bytea;
BEGIN
    PERFORM libs.tile_check(z, x, y);
    IF libs.tileset_type(collection_id, coalesce(params ->> 'tileset', 'WebMercatorQuad-Vector')) <> 'vector' THEN
        RAISE EXCEPTION 'tileset % of collection % holds raster (PNG) tiles', params ->> 'tileset', collection_id
            USING ERRCODE = 'P0002', HINT = 'vector tiles of a hybrid collection are in WebMercatorQuad-Vector';
    END IF;
    env := ST_TileEnvelope(z, x, y);
    unit := (ST_XMax(env) - ST_XMin(env)) / 4096.0;
    inner_env := ST_Expand(env, unit * 64);
    IF params -> 'filter' IS NOT NULL AND jsonb_typeof(params -> 'filter') <> 'null' THEN
        EXECUTE libs.features_tile_sql(libs.tile_filter_sql(collection_id, params -> 'filter')) INTO tile
            USING collection_id, env, inner_env, unit, names, collection_id;
        RETURN tile;
    END IF;
    -- No filter: a static query, so PL/pgSQL keeps its plan. ST_AsMVT skips rows whose geometry is NULL.
    SELECT coalesce(ST_AsMVT(t.*, features_tile.collection_id, 4096, 'geom', 'fid'), ''::bytea) INTO tile
    FROM (SELECT libs.mvt_geom(f.geom_3857, env, inner_env, unit) AS geom, f.seq AS fid, f.id,
                 CASE WHEN names IS NULL THEN f.properties ELSE libs.jsonb_pick(f.properties, names) END AS properties
          FROM data.features f
          WHERE f.collection_id = features_tile.collection_id
            AND hashtext(f.collection_id) = hashtext(features_tile.collection_id) AND f.geom_3857 && inner_env) t;
    RETURN tile;
END
$$;
COMMENT ON FUNCTION api.features_tile(text, int, int, int, jsonb) IS
    'GET /collections/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}: a Mapbox Vector Tile (one layer named after the '
    'collection; MVT feature id: data.features.seq; attributes: id and the feature properties). params: properties (names to include, default all), '
    'filter (cql2-json), tileset (default WebMercatorQuad-Vector). An empty tile is an empty bytea.';
