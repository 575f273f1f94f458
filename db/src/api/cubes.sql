-- Zarr DataCubes: where a cube's data is and what its layers mean.

CREATE OR REPLACE FUNCTION api.raster_source(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    out jsonb;
BEGIN
    SELECT jsonb_build_object(
        'collection_id', c.collection_id,
        'store_path', c.store_path,
        'version', extract(epoch FROM c.updated_at)::text,
        'crs', c.crs,
        'native_crs', c.native_crs,
        'resolution', to_jsonb(c.resolution),
        'bbox', to_jsonb(c.bbox_wgs84),
        'shape', to_jsonb(c.shape),
        'times', to_jsonb(c.times),
        'attrs', c.attrs,
        'levels', c.levels,
        'layers', coalesce((
            SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                'name', l.name, 'kind', l.kind, 'variable', l.variable, 'bands', to_jsonb(l.bands),
                'expression', l.expression, 'dtype', l.dtype, 'units', l.units,
                'rescale', to_jsonb(l.rescale), 'colormap', l.colormap, 'description', l.description))
                ORDER BY l.ord, l.name)
            FROM data.cube_layers l WHERE l.collection_id = c.collection_id), '[]'))
    INTO out
    FROM data.cubes c
    WHERE c.collection_id = raster_source.collection_id;
    IF out IS NULL THEN
        RAISE EXCEPTION 'collection % has no raster data', collection_id
            USING ERRCODE = 'P0002', HINT = 'GET /collections lists the collections; cubes have kind cube or hybrid';
    END IF;
    RETURN out;
END
$$;
COMMENT ON FUNCTION api.raster_source(text, jsonb) IS
    'Where a cube''s Zarr store is and what its layers mean (the raster worker reads this).';

CREATE OR REPLACE FUNCTION api.cube_store_get(collection_id text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    out jsonb;
BEGIN
    SELECT jsonb_build_object('collection_id', c.collection_id, 'store_path', c.store_path,
                              'version', extract(epoch FROM c.updated_at)::text)
    INTO out FROM data.cubes c WHERE c.collection_id = cube_store_get.collection_id;
    IF out IS NULL THEN
        RAISE EXCEPTION 'collection % has no Zarr store', collection_id
            USING ERRCODE = 'P0002', HINT = 'GET /collections lists the collections; cubes have kind cube or hybrid';
    END IF;
    RETURN out;
END
$$;
COMMENT ON FUNCTION api.cube_store_get(text, jsonb) IS
    'The served Zarr store of a cube: {collection_id, store_path, version}. GET /collections/{id}/zarr/{key} '
    'serves the files inside store_path (read-only), nothing else.';
