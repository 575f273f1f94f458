-- The repeatable part of the database: functions, views and grants, all CREATE OR REPLACE.
-- `make migrate` applies these files in this order (psql users: \i db/src/manifest.sql).
-- One file per resource per layer; keep each under ~400 lines.
\ir libs/core.sql
\ir libs/geometry.sql
\ir libs/cube_hrefs.sql
\ir libs/cql2.sql
\ir libs/cql2_ops.sql
\ir api/core.sql
\ir api/stac.sql
\ir api/stac_search.sql
\ir api/stac_items.sql
\ir api/stac_cql2.sql
\ir api/stac_ingest.sql
\ir api/stac_write.sql
\ir api/features_stac.sql
\ir api/features_paging.sql
\ir api/features.sql
\ir api/features_meta.sql
\ir api/features_meta_writes.sql
\ir api/features_write.sql
\ir api/features_aggregate.sql
\ir api/features_openapi.sql
\ir api/sortables.sql
\ir api/collections_queryables.sql
\ir api/features_tiles.sql
\ir api/tile_matrix_sets.sql
\ir api/tilesets.sql
\ir api/styles.sql
\ir api/cubes.sql
\ir api/cubes_register.sql
\ir api/cubes_capabilities.sql
\ir api/analytics.sql
\ir authorization/grants.sql
