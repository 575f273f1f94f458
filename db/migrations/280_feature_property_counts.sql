-- 280: what single-feature writes need so that keeping a feature collection's derived metadata current costs
-- the changed rows only, not a rescan of the collection (db/src/api/features_meta.sql, README "Feature
-- collections"):
-- * data.feature_property_counts: how many features hold each property with a value of each kind
--   (libs.jsonb_kind; 'null' for JSON null). A property's kind in data.feature_collections.property_kinds is
--   libs.kind_agg over its kinds counted > 0, so deleting the last value of a kind narrows the property's type
--   and deleting its last value removes it from the queryables, without looking at the other features.
-- * an index of the end times that exist: the latest end of a collection's time range is found through it
--   (and features_datetime_idx) when the feature that ended it is changed or deleted.
CREATE TABLE IF NOT EXISTS data.feature_property_counts (
    collection_id text NOT NULL REFERENCES pgstac.collections (id) ON DELETE CASCADE ON UPDATE CASCADE,
    key text NOT NULL,
    kind text NOT NULL,     -- libs.jsonb_kind of the values; 'null' for JSON null
    n bigint NOT NULL,      -- features whose property `key` holds a value of that kind (rows with 0 are deleted)
    PRIMARY KEY (collection_id, key, kind)
);

CREATE INDEX IF NOT EXISTS features_end_datetime_idx ON data.features (collection_id, end_datetime)
    WHERE end_datetime IS NOT NULL;

-- Backfill from the stored features. libs.jsonb_kind comes from db/src, applied after the versioned migrations:
-- a database that never had db/src has no feature collection rows yet, and gets its counts from
-- libs.features_refresh (the upgrade step at the end of db/src/api/features_meta.sql).
DO $$
BEGIN
    IF to_regprocedure('libs.jsonb_kind(jsonb)') IS NULL THEN
        RETURN;
    END IF;
    EXECUTE $q$
        INSERT INTO data.feature_property_counts (collection_id, key, kind, n)
        SELECT v.collection_id, v.key, coalesce(libs.jsonb_kind(v.value), 'null'), sum(v.n)
        FROM (SELECT f.collection_id, e.key, e.value, count(*) AS n
              FROM data.features f
              JOIN data.feature_collections fc ON fc.collection_id = f.collection_id,
                   jsonb_each(f.properties) e
              GROUP BY 1, 2, 3) v
        GROUP BY 1, 2, 3
        ON CONFLICT DO NOTHING $q$;
END
$$;
