-- 200: feature collections: per-collection settings and derived property types (the queryables),
-- a stable insertion order for features, conformance classes and the links every feature collection carries.

-- File order of features (default sort, stable paging) and an integer id for vector tiles.
ALTER TABLE data.features ADD COLUMN IF NOT EXISTS seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX IF NOT EXISTS features_seq_idx ON data.features (collection_id, seq);

-- What the platform derives from a feature collection's data, kept current by statement-level triggers
-- on data.features (db/src/api/features_write.sql): property kinds (the queryables) and the collection's
-- temporal property.
CREATE TABLE IF NOT EXISTS data.feature_collections (
    collection_id text PRIMARY KEY REFERENCES pgstac.collections (id) ON DELETE CASCADE ON UPDATE CASCADE,
    -- the property whose value becomes data.features.datetime ('datetime', then 'start_datetime', when NULL)
    datetime_property text,
    end_datetime_property text,
    -- {"name": "integer" | "number" | "string" | "date" | "date-time" | "boolean" | "array" | "object"
    --          | "mixed" | null (only nulls seen)}
    property_kinds jsonb NOT NULL DEFAULT '{}',
    bbox double precision[],             -- [minx, miny, maxx, maxy] of the stored features (WGS84)
    time_min timestamptz,                -- min(datetime)
    time_max timestamptz,                -- max(coalesce(end_datetime, datetime))
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO data.conformance (uri, area) VALUES
    ('http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sorting', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/cql2-text', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/cql2-json', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/accent-insensitive-comparison', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/array-functions', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/property-property', 'features'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/arithmetic', 'features')
ON CONFLICT DO NOTHING;

INSERT INTO data.collection_links (kind, rel, path, type, title, ord) VALUES
    ('features', 'items', 'collections/{id}/items', 'application/geo+json', 'Features', 10),
    ('features', 'http://www.opengis.net/def/rel/ogc/1.0/queryables', 'collections/{id}/queryables',
     'application/schema+json', 'Queryables', 11),
    ('features', 'aggregate', 'collections/{id}/aggregate', 'application/json', 'Property aggregations', 12),
    ('hybrid', 'items', 'collections/{id}/items', 'application/geo+json', 'Features', 10),
    ('hybrid', 'http://www.opengis.net/def/rel/ogc/1.0/queryables', 'collections/{id}/queryables',
     'application/schema+json', 'Queryables', 11),
    ('hybrid', 'aggregate', 'collections/{id}/aggregate', 'application/json', 'Property aggregations', 12)
ON CONFLICT DO NOTHING;
