-- 220: the spatial indexes of data.features lead with an integer key of the collection (hashtext(collection_id))
-- instead of the collection id itself. A btree_gist text key costs a GiST insert about as much as the geometry
-- it indexes, and more when the table holds other collections: storing 100,000 polygons took 7.6 to 9.7 database
-- CPU seconds with the two (collection_id, geometry) indexes and 3.3 to 3.9 s with (hashtext(collection_id),
-- geometry) (README, "Feature benchmark"). Queries of one collection state both conditions:
--     f.collection_id = $1 AND pg_catalog.hashtext(f.collection_id) = pg_catalog.hashtext($1) AND f.geom && ...
-- (libs.features_where, the tile queries); a hash shared by two collections only costs a recheck.
-- The index names stay, so that 500_tiles' CREATE INDEX IF NOT EXISTS is a no-op on a fresh database; the
-- column geom_3857 is created here already for that reason (the same definition as 500_tiles).
ALTER TABLE data.features
    ADD COLUMN IF NOT EXISTS geom_3857 geometry(Geometry, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;

DROP INDEX IF EXISTS data.features_geom_idx;
CREATE INDEX features_geom_idx ON data.features USING gist (pg_catalog.hashtext(collection_id), geom);
DROP INDEX IF EXISTS data.features_geom_3857_idx;
CREATE INDEX features_geom_3857_idx ON data.features USING gist (pg_catalog.hashtext(collection_id), geom_3857);
