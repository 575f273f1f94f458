-- 500: OGC API Tiles (vector tiles from PostGIS, tile matrix sets, tileset lists) and TileJSON.

-- Vector tiles are cut in Web Mercator. A stored, generated copy of each feature's geometry in EPSG:3857
-- (`geom` stays the source of truth; PostgreSQL keeps this column in step on every INSERT/UPDATE)
-- saves one ST_Transform per feature per tile, and its GiST index finds a tile's features directly.
ALTER TABLE data.features
    ADD COLUMN IF NOT EXISTS geom_3857 geometry(Geometry, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;
CREATE INDEX IF NOT EXISTS features_geom_3857_idx ON data.features USING gist (collection_id, geom_3857);

INSERT INTO data.conformance (uri, area) VALUES
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core', 'tiles'),
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset', 'tiles'),
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list', 'tiles'),
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets', 'tiles'),
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt', 'tiles'),
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png', 'tiles'),
    ('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30', 'tiles'),
    ('http://www.opengis.net/spec/tms/2.0/conf/tilematrixset', 'tiles'),
    ('http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset', 'tiles'),
    ('http://www.opengis.net/spec/tms/2.0/conf/tilesetmetadata', 'tiles'),
    ('http://www.opengis.net/spec/tms/2.0/conf/json-tilesetmetadata', 'tiles')
ON CONFLICT DO NOTHING;

INSERT INTO data.landing_links (rel, path, type, title, ord) VALUES
    ('http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes', 'tileMatrixSets', 'application/json',
     'Tile matrix sets (tiling schemes)', 40)
ON CONFLICT DO NOTHING;

INSERT INTO data.collection_links (kind, rel, path, type, title, ord) VALUES
    ('features', 'http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector', 'collections/{id}/tiles',
     'application/json', 'Vector tilesets', 40),
    ('features', 'stylesheet', 'collections/{id}/styles/default', 'application/vnd.mapbox.style+json',
     'MapLibre style', 42),
    ('hybrid', 'http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector', 'collections/{id}/tiles',
     'application/json', 'Vector tilesets', 40),
    ('hybrid', 'http://www.opengis.net/def/rel/ogc/1.0/tilesets-map', 'collections/{id}/tiles',
     'application/json', 'Map (raster) tilesets', 41),
    ('hybrid', 'stylesheet', 'collections/{id}/styles/default', 'application/vnd.mapbox.style+json',
     'MapLibre style', 42),
    ('cube', 'http://www.opengis.net/def/rel/ogc/1.0/tilesets-map', 'collections/{id}/tiles',
     'application/json', 'Map (raster) tilesets', 41),
    ('cube', 'stylesheet', 'collections/{id}/styles/default', 'application/vnd.mapbox.style+json',
     'MapLibre style', 42)
ON CONFLICT DO NOTHING;
