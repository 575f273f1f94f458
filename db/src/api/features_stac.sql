-- Feature collections as STAC: every feature served through /collections/{id}/items (and /search on a
-- 'features' collection) is both a plain GeoJSON / OGC API Features feature and a valid STAC 1.0.0 Item:
-- stac_version, stac_extensions [], collection, bbox, assets {}, links self/parent/collection/root and
-- properties.datetime (or datetime null with start_datetime/end_datetime; README "Feature collections").
-- These functions run once per returned feature: they carry no SET clause (a SET clause costs a
-- search_path switch per call and keeps the planner from inlining) and name every object schema-qualified.

-- An instant as RFC 3339 in UTC ('2025-06-01T00:00:00Z', fractional seconds only when there are some);
-- JSON's timestamp output is ISO 8601 whatever the DateStyle. STABLE like to_jsonb: an IMMUTABLE label
-- over a STABLE body would keep the planner from inlining it.
CREATE OR REPLACE FUNCTION libs.rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE STRICT AS $$
    SELECT (pg_catalog.to_jsonb(t AT TIME ZONE 'UTC') #>> '{}') || 'Z';
$$;

-- The STAC time members of a feature: datetime from its own time (the collection's datetime property);
-- when it has none (or has an end), datetime null or kept, plus start_datetime and end_datetime. A feature
-- without any time is described as valid at the instant it was last written (data.features.written_at), to the
-- millisecond: GDAL (3.12, through pyogrio) rounds a fraction of .9995 s and more up to 1000 ms and fails.
CREATE OR REPLACE FUNCTION libs.feature_stac_times(dt timestamptz, end_dt timestamptz, written timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN dt IS NOT NULL AND end_dt IS NULL THEN pg_catalog.jsonb_build_object('datetime', libs.rfc3339(dt))
        ELSE pg_catalog.jsonb_build_object('datetime', libs.rfc3339(dt),
            'start_datetime', libs.rfc3339(coalesce(dt, end_dt, pg_catalog.date_trunc('milliseconds', written))),
            'end_datetime', libs.rfc3339(coalesce(end_dt, dt, pg_catalog.date_trunc('milliseconds', written)))) END;
$$;
COMMENT ON FUNCTION libs.feature_stac_times(timestamptz, timestamptz, timestamptz) IS
    'STAC time properties of a feature: {"datetime"} from its own time; without one (or with an end time) '
    'also start_datetime/end_datetime, falling back to the time the feature was last written.';

-- One stored feature as a GeoJSON Feature that is also a STAC Item. `coll_href` is the collection's URL and
-- `root` the surface's base URL (computed once per request by the caller). With a property selection
-- (`sel`: ?properties=a,b or fields), properties hold exactly those (OGC semantics; the STAC time members
-- only when selected: properties=crop,datetime).
-- A single expression without FROM or sub-select, so that the planner inlines it into the caller's query
-- (a SQL function that is not inlined costs ~100 us per call, more than building the feature).
CREATE OR REPLACE FUNCTION libs.feature_stac(f data.features, sel text[], coll_href text, root text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT pg_catalog.jsonb_build_object(
        'type', 'Feature',
        'stac_version', '1.0.0',
        'stac_extensions', '[]'::jsonb,
        'id', f.id,
        'collection', f.collection_id,
        'geometry', public.st_asgeojson(f.geom, 9)::jsonb,
        'bbox', pg_catalog.jsonb_build_array(public.st_xmin(f.geom), public.st_ymin(f.geom),
                                             public.st_xmax(f.geom), public.st_ymax(f.geom)),
        'properties', CASE WHEN sel IS NULL
            THEN f.properties || libs.feature_stac_times(f.datetime, f.end_datetime, f.written_at)
            ELSE libs.jsonb_pick(f.properties || libs.feature_stac_times(f.datetime, f.end_datetime, f.written_at),
                                 sel) END,
        'assets', '{}'::jsonb,
        'links', pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('rel', 'self', 'type', 'application/geo+json',
                                          'href', coll_href || '/items/' || libs.stac_path_part(f.id)),
            pg_catalog.jsonb_build_object('rel', 'parent', 'type', 'application/json', 'href', coll_href),
            pg_catalog.jsonb_build_object('rel', 'collection', 'type', 'application/json', 'href', coll_href),
            pg_catalog.jsonb_build_object('rel', 'root', 'type', 'application/json', 'href', root)));
$$;
COMMENT ON FUNCTION libs.feature_stac(data.features, text[], text, text) IS
    'A stored feature as a GeoJSON Feature that is also a STAC 1.0.0 Item (stac_version, bbox, assets, '
    'links self/parent/collection/root, properties.datetime or start_datetime/end_datetime). coll_href: the '
    'collection URL; root: the base URL; sel: only these properties (STAC time members only when selected).';

-- The collection's URL on the current surface (links of its features).
CREATE OR REPLACE FUNCTION libs.features_collection_href(collection_id text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.url('collections/' || libs.stac_path_part(collection_id));
$$;

-- UPDATEs of a feature move its written_at (INSERTs take the column default, now()).
CREATE OR REPLACE FUNCTION libs.features_touch_written_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    NEW.written_at := now();
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER features_touch_written_at BEFORE UPDATE ON data.features
    FOR EACH ROW EXECUTE FUNCTION libs.features_touch_written_at();
