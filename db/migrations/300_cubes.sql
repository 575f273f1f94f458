-- 300: DataCubes: change notifications for the raster worker's caches, conformance, links.

-- The raster worker caches each cube's source document and listens on 'stapi_cubes': any change to a
-- cube row (register, replace with --force, delete, cascade from pgstac.collections) notifies its id.
CREATE OR REPLACE FUNCTION data.cubes_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_notify('stapi_cubes', coalesce(NEW.collection_id, OLD.collection_id));
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS cubes_notify ON data.cubes;
CREATE TRIGGER cubes_notify AFTER INSERT OR UPDATE OR DELETE ON data.cubes
    FOR EACH ROW EXECUTE FUNCTION data.cubes_notify();

INSERT INTO data.conformance (uri, area) VALUES
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core', 'cubes'),
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png', 'cubes')
ON CONFLICT DO NOTHING;

INSERT INTO data.collection_links (kind, rel, path, type, title, ord) VALUES
    ('cube', 'describedby', 'collections/{id}/capabilities', 'application/json',
     'DataCube capabilities: layers, time steps, extent', 50),
    ('hybrid', 'describedby', 'collections/{id}/capabilities', 'application/json',
     'DataCube capabilities: layers, time steps, extent', 50)
ON CONFLICT DO NOTHING;
