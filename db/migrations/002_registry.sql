-- 002: the shared registry the capabilities build on (features, cubes, links per collection kind).

-- Extra links every collection of a kind carries ('{id}' in path is replaced by the collection id).
CREATE TABLE IF NOT EXISTS data.collection_links (
    kind text NOT NULL CHECK (kind IN ('stac', 'features', 'cube', 'hybrid')),
    rel text NOT NULL,
    path text NOT NULL,          -- relative to the surface's base URL, e.g. 'collections/{id}/queryables'
    type text,
    title text,
    ord int NOT NULL DEFAULT 100,
    PRIMARY KEY (kind, rel, path)
);

-- Vector features of 'features' and 'hybrid' collections, stored in WGS84.
CREATE TABLE IF NOT EXISTS data.features (
    collection_id text NOT NULL REFERENCES pgstac.collections (id) ON DELETE CASCADE ON UPDATE CASCADE,
    id text NOT NULL,
    geom geometry(Geometry, 4326) NOT NULL,
    datetime timestamptz,
    end_datetime timestamptz,
    properties jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (collection_id, id)
);
CREATE INDEX IF NOT EXISTS features_geom_idx ON data.features USING gist (collection_id, geom);
CREATE INDEX IF NOT EXISTS features_datetime_idx ON data.features (collection_id, datetime);

-- Zarr DataCubes of 'cube' and 'hybrid' collections: the served store (time, y, x in EPSG:3857,
-- one float32 variable per band or index layer, NaN = nodata) and what its layers mean.
CREATE TABLE IF NOT EXISTS data.cubes (
    collection_id text PRIMARY KEY REFERENCES pgstac.collections (id) ON DELETE CASCADE ON UPDATE CASCADE,
    store_path text NOT NULL,            -- absolute path (or URL) of the served Zarr store
    source_path text,                    -- what was uploaded
    native_crs text,                     -- e.g. 'EPSG:32644'
    crs text NOT NULL DEFAULT 'EPSG:3857',
    resolution double precision[],       -- native pixel size [x, y] in native CRS units
    bbox_wgs84 double precision[] NOT NULL,   -- [minx, miny, maxx, maxy]
    shape int[],                         -- [time, y, x] of the served store
    times timestamptz[] NOT NULL DEFAULT '{}',
    attrs jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS data.cube_layers (
    collection_id text NOT NULL REFERENCES data.cubes (collection_id) ON DELETE CASCADE ON UPDATE CASCADE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('band', 'index', 'composite', 'mask')),
    variable text,                      -- the Zarr variable holding it (bands, indices); NULL for composites
    bands text[],                       -- composites: the three layers [r, g, b]
    expression text,                    -- indices: how it was derived, e.g. '(B08-B04)/(B08+B04)'
    dtype text NOT NULL DEFAULT 'float32',
    units text,
    rescale double precision[],         -- default [min, max] for rendering
    colormap text,                      -- default colormap name for single-layer rendering
    description text,
    ord int NOT NULL DEFAULT 100,
    PRIMARY KEY (collection_id, name)
);
