-- Feature collections, write side (OGC API Features Part 4 style) and bulk ingest.
-- Every write path goes through a staging table (pg_temp.features_staging, filled by COPY from the CLI or
-- from a JSON body) and libs.features_ingest: reprojection to WGS84 in the database (ST_Transform), repair of
-- invalid geometries (ST_MakeValid), errors naming the feature; one transaction, so a failure leaves nothing.

-- GeoJSON text whose coordinates hold something other than numbers ("12.5", null, true): PostGIS would read
-- those as numbers or 0 without a word. A cheap test first (one regular expression, about 1 us a feature): in a
-- plain geometry an array's first element and an element after a number start like a number or an array; only
-- a geometry where something else follows (a string, null, a GeometryCollection's members) pays for the exact
-- JSON path test.
CREATE OR REPLACE FUNCTION libs.geojson_odd_coordinates(geojson text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF geojson !~ '\[\s*[^-0-9\s\[\].+]|[0-9.]\s*,\s*[^-0-9\s\[.+]' THEN
        RETURN false;
    END IF;
    RETURN jsonb_path_exists(geojson::jsonb,
        'lax $.**.coordinates.** ? (@.type() != "number" && @.type() != "array")');
END
$$;
COMMENT ON FUNCTION libs.geojson_odd_coordinates(text) IS
    'True when a GeoJSON geometry''s coordinates hold anything but numbers and arrays (strings, null, booleans).';

-- plpgsql, not SQL: a SQL function with sub-selects is neither inlined nor cheap per row (7x slower in bulk).
CREATE OR REPLACE FUNCTION libs.feature_geom(geojson text, wkb bytea, srid int) RETURNS public.geometry
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
    g public.geometry;
    v public.geometry;
    b public.box2d;
BEGIN
    IF wkb IS NULL AND libs.geojson_odd_coordinates(geojson) THEN
        RAISE EXCEPTION 'its coordinates hold something other than numbers (RFC 7946 positions are arrays of '
                        'numbers: [longitude, latitude])';
    END IF;
    g := public.st_transform(public.st_force2d(public.st_setsrid(
        CASE WHEN wkb IS NOT NULL THEN public.st_geomfromwkb(wkb) ELSE public.st_geomfromgeojson(geojson) END,
        srid)), 4326);
    v := g;
    IF NOT public.st_isvalid(g) THEN
        v := public.st_makevalid(g);
        IF public.st_dimension(v) < public.st_dimension(g) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF public.st_isempty(v) THEN
        RETURN NULL;
    END IF;
    b := v::public.box2d;
    IF public.st_ymin(b) < -90 OR public.st_ymax(b) > 90 THEN
        RAISE EXCEPTION 'latitude % is outside [-90, 90]: GeoJSON positions are [longitude, latitude] (also under '
                        'a crs member naming EPSG:4326), and projected coordinates need their CRS (crs=EPSG:n)',
            CASE WHEN public.st_ymax(b) > 90 THEN public.st_ymax(b) ELSE public.st_ymin(b) END;
    END IF;
    -- RFC 7946 3.1.9: a shape crossing the antimeridian is cut there; longitudes beyond 180 (-180) move over
    IF public.st_xmax(b) > 180.0000001 THEN
        v := public.st_wrapx(v, 180, -360);
    END IF;
    IF public.st_xmin(b) < -180.0000001 THEN
        v := public.st_wrapx(v, -180, 360);
    END IF;
    IF public.st_xmax(b) > 540 OR public.st_xmin(b) < -540 THEN
        RAISE EXCEPTION 'longitude % is outside [-180, 180]: projected coordinates need their CRS (crs=EPSG:n)',
            CASE WHEN public.st_xmax(b) > 540 THEN public.st_xmax(b) ELSE public.st_xmin(b) END;
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION libs.feature_geom(text, bytea, int) IS
    'A feature geometry (GeoJSON text or WKB, in the given SRID) as valid 2D WGS84 (repaired by ST_MakeValid, '
    'longitudes beyond 180 wrapped across the antimeridian); NULL when empty or when the repair would lose a '
    'dimension (a polygon that collapses to a line); an error for non-numbers in coordinates and for latitudes '
    'beyond 90 (positions in latitude, longitude order, or a projected CRS not declared).';

-- No SET clause and no sub-select, so that the planner inlines it into the bulk INSERT (a SET clause prevents
-- inlining); it names only pg_catalog objects, which are always searched first.
CREATE OR REPLACE FUNCTION libs.feature_time(props jsonb, key text, fallback text DEFAULT NULL) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN coalesce(props ->> key, props ->> fallback) ~ '^\d{4}-\d{2}-\d{2}$'
                THEN (coalesce(props ->> key, props ->> fallback) || 'T00:00:00Z')::timestamptz
                ELSE coalesce(props ->> key, props ->> fallback)::timestamptz END;
$$;

CREATE OR REPLACE FUNCTION libs.features_staging_create() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS features_staging (
        ord bigint NOT NULL, id text, geojson text, wkb bytea, properties jsonb) ON COMMIT DROP;
    TRUNCATE pg_temp.features_staging;
END
$$;
COMMENT ON FUNCTION libs.features_staging_create() IS
    'Creates (empty) pg_temp.features_staging(ord, id, geojson, wkb, properties), dropped at commit; '
    'fill it (COPY) and call libs.features_ingest.';

-- A GeoJSON Feature or FeatureCollection body -> staging rows.
CREATE OR REPLACE FUNCTION libs.features_stage_json(body jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
DECLARE
    n bigint;
BEGIN
    IF body ->> 'type' NOT IN ('Feature', 'FeatureCollection') OR body ->> 'type' IS NULL THEN
        RAISE EXCEPTION 'the body must be a GeoJSON Feature or FeatureCollection, got type %',
            coalesce(body ->> 'type', '(none)') USING ERRCODE = '22023';
    END IF;
    PERFORM libs.features_staging_create();
    EXECUTE 'INSERT INTO pg_temp.features_staging (ord, id, geojson, properties)
             SELECT i, f ->> ''id'', nullif(f -> ''geometry'', ''null'')::text,
                    CASE WHEN jsonb_typeof(f -> ''properties'') = ''object'' THEN f -> ''properties'' ELSE ''{}'' END
             FROM jsonb_array_elements(CASE WHEN $1 ->> ''type'' = ''Feature'' THEN jsonb_build_array($1)
                                            ELSE coalesce($1 -> ''features'', ''[]'') END) WITH ORDINALITY AS x(f, i)'
        USING body;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Finds the staged feature that cannot be stored and raises an error naming it.
CREATE OR REPLACE FUNCTION libs.features_diagnose(srid int, dtp text, edp text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    g public.geometry;
BEGIN
    FOR r IN EXECUTE 'SELECT * FROM pg_temp.features_staging ORDER BY ord' LOOP
        BEGIN
            IF r.geojson IS NULL AND r.wkb IS NULL THEN
                RAISE EXCEPTION 'it has no geometry';
            END IF;
            g := libs.feature_geom(r.geojson, r.wkb, srid);
            IF g IS NULL THEN
                RAISE EXCEPTION 'its geometry is empty or invalid and could not be repaired';
            END IF;
            PERFORM libs.feature_time(r.properties, dtp, 'start_datetime'), libs.feature_time(r.properties, edp);
        EXCEPTION WHEN others THEN
            RAISE EXCEPTION 'feature % (number % in the upload) was rejected: %', coalesce(r.id, '(no id)'), r.ord, SQLERRM
                USING ERRCODE = '22023', HINT = 'fix or remove that feature; nothing was stored';
        END;
    END LOOP;
END
$$;

-- Stores the staged features in a collection; returns how many. Reprojects from `srid` to WGS84.
CREATE OR REPLACE FUNCTION libs.features_ingest(collection_id text, srid int DEFAULT 4326) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
    fc record;
    n bigint;
    detail text;
BEGIN
    PERFORM libs.require_writer();
    SELECT coalesce(f.datetime_property, 'datetime') AS dtp, coalesce(f.end_datetime_property, 'end_datetime') AS edp
    INTO fc FROM data.feature_collections f WHERE f.collection_id = features_ingest.collection_id;
    EXECUTE 'UPDATE pg_temp.features_staging SET id = gen_random_uuid()::text WHERE id IS NULL';
    BEGIN
        EXECUTE 'INSERT INTO data.features (collection_id, id, geom, datetime, end_datetime, properties)
                 SELECT $1, s.id, libs.feature_geom(s.geojson, s.wkb, $2),
                        libs.feature_time(s.properties, $3, ''start_datetime''), libs.feature_time(s.properties, $4),
                        coalesce(s.properties, ''{}'')
                 FROM pg_temp.features_staging s ORDER BY s.ord'
            USING collection_id, srid, coalesce(fc.dtp, 'datetime'), coalesce(fc.edp, 'end_datetime');
        GET DIAGNOSTICS n = ROW_COUNT;
    EXCEPTION
        WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'a feature id is already taken in collection %: %', collection_id, detail
                USING ERRCODE = '23505', HINT = 'feature ids must be unique within a collection';
        WHEN others THEN
            PERFORM libs.features_diagnose(srid, coalesce(fc.dtp, 'datetime'), coalesce(fc.edp, 'end_datetime'));
            RAISE;
    END;
    RETURN n;
END
$$;
COMMENT ON FUNCTION libs.features_ingest(text, int) IS
    'Inserts pg_temp.features_staging into data.features of a collection: geometries reprojected from srid to '
    'WGS84 and repaired (ST_MakeValid), datetime from the collection''s datetime property; a feature that cannot '
    'be stored raises 22023 naming it (nothing is stored). Returns the number of features stored.';

-- The source SRID of a write: params.crs, else the body's GeoJSON crs member, else CRS84.
CREATE OR REPLACE FUNCTION libs.features_body_srid(body jsonb, params jsonb) RETURNS int
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.crs_srid(coalesce(params ->> 'crs', body -> 'crs' -> 'properties' ->> 'name', body ->> 'crs'));
$$;

-- A hybrid collection's items are its features and its cube's time slices (pgSTAC items derived from the cube,
-- api.item_get). A write through /items reaches the features only, so it must not name a time slice: PUT, PATCH
-- or DELETE of one would change a feature that is not there (or shadow the slice), and a feature created with a
-- slice's id would hide the slice from GET /items/{id}. 409 naming the slice and saying what to do instead.
CREATE OR REPLACE FUNCTION libs.features_refuse_time_slices(collection_id text, ids text[], verb text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    slice text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM data.collection_meta m
                   WHERE m.collection_id = features_refuse_time_slices.collection_id AND m.kind = 'hybrid') THEN
        RETURN;
    END IF;
    SELECT i.id INTO slice FROM pgstac.items i
    WHERE i.collection = features_refuse_time_slices.collection_id AND i.id = ANY (ids) ORDER BY i.id LIMIT 1;
    IF slice IS NOT NULL THEN
        RAISE EXCEPTION 'cannot % item % of hybrid collection %: it is a time slice of the collection''s datacube, '
            'derived from the cube, and /items writes go to its features', verb, slice, collection_id
            USING ERRCODE = 'PT409',
                  HINT = CASE WHEN verb = 'create' THEN 'give the feature an id that no time slice has'
                              ELSE 'time slices change with the cube (re-register or re-upload it); '
                                   'features have other ids (GET /collections/' || collection_id || '/items)' END;
    END IF;
END
$$;
COMMENT ON FUNCTION libs.features_refuse_time_slices(text, text[], text) IS
    'In a hybrid collection, raises PT409 (409) when one of ids is a time-slice item of its cube: /items '
    'writes (verb: create, replace, patch, delete) reach the features only. A no-op for other kinds.';

CREATE OR REPLACE FUNCTION api.features_create(collection_id text, body jsonb, params jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
    out jsonb;
    ids text[];
BEGIN
    PERFORM libs.require_writer();
    PERFORM libs.features_collection(collection_id);
    PERFORM libs.features_stage_json(body);
    EXECUTE 'SELECT array_agg(id) FROM pg_temp.features_staging WHERE id IS NOT NULL' INTO ids;
    PERFORM libs.features_refuse_time_slices(collection_id, ids, 'create');
    PERFORM libs.features_ingest(collection_id, libs.features_body_srid(body, params));
    EXECUTE 'SELECT jsonb_agg(libs.feature_json(f) ORDER BY s.ord) FROM pg_temp.features_staging s
             JOIN data.features f ON f.collection_id = $1 AND f.id = s.id' INTO out USING collection_id;
    IF body ->> 'type' = 'Feature' THEN
        RETURN out -> 0;
    END IF;
    RETURN jsonb_build_object('type', 'FeatureCollection', 'features', coalesce(out, '[]'),
                              'numberReturned', coalesce(jsonb_array_length(out), 0));
END
$$;
COMMENT ON FUNCTION api.features_create(text, jsonb, jsonb) IS
    'POST /collections/{id}/items of a feature collection: stores a GeoJSON Feature (returns it) or '
    'FeatureCollection (returns the created features); ids generated when absent; geometries in CRS84 unless '
    'the body has a crs member or params.crs. Duplicate ids: 23505 (409). Bad features: 22023 naming them.';

CREATE OR REPLACE FUNCTION api.feature_replace(collection_id text, feature_id text, body jsonb,
                                               params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM libs.require_writer();
    PERFORM libs.features_collection(collection_id);
    PERFORM libs.features_refuse_time_slices(collection_id, ARRAY[feature_id], 'replace');
    IF body ->> 'type' IS DISTINCT FROM 'Feature' OR (body ? 'id' AND body ->> 'id' <> feature_id) THEN
        RAISE EXCEPTION 'the body must be a GeoJSON Feature whose id (if any) is %', feature_id USING ERRCODE = '22023';
    END IF;
    PERFORM api.feature_delete(collection_id, feature_id);
    RETURN api.features_create(collection_id, body || jsonb_build_object('id', feature_id), params);
END
$$;
COMMENT ON FUNCTION api.feature_replace(text, text, jsonb, jsonb) IS
    'PUT /collections/{id}/items/{featureId}: replaces a feature (404 if absent) with a GeoJSON Feature.';

CREATE OR REPLACE FUNCTION api.feature_patch(collection_id text, feature_id text, body jsonb,
                                             params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
    cur jsonb;
    props jsonb;
BEGIN
    PERFORM libs.require_writer();
    PERFORM libs.features_collection(collection_id);
    PERFORM libs.features_refuse_time_slices(collection_id, ARRAY[feature_id], 'patch');
    cur := api.feature_get(collection_id, feature_id);
    IF jsonb_typeof(body) <> 'object' OR (body ? 'id' AND body ->> 'id' <> feature_id) THEN
        RAISE EXCEPTION 'the body must be a JSON merge patch of feature %', feature_id USING ERRCODE = '22023';
    END IF;
    props := cur -> 'properties' || coalesce(CASE WHEN jsonb_typeof(body -> 'properties') = 'object'
                                                  THEN body -> 'properties' END, '{}');
    props := props - ARRAY(SELECT key FROM jsonb_each(body -> 'properties') WHERE value = 'null');
    RETURN api.feature_replace(collection_id, feature_id, jsonb_build_object('type', 'Feature', 'id', feature_id,
        'geometry', coalesce(body -> 'geometry', cur -> 'geometry'), 'properties', props)
        || CASE WHEN body ? 'geometry' AND body ? 'crs' THEN jsonb_build_object('crs', body -> 'crs') ELSE '{}' END,
        params);
END
$$;
COMMENT ON FUNCTION api.feature_patch(text, text, jsonb, jsonb) IS
    'PATCH /collections/{id}/items/{featureId}: a JSON merge patch (properties set to null are removed).';

CREATE OR REPLACE FUNCTION api.feature_delete(collection_id text, feature_id text, params jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM libs.require_writer();
    PERFORM libs.features_collection(collection_id);
    PERFORM libs.features_refuse_time_slices(collection_id, ARRAY[feature_id], 'delete');
    DELETE FROM data.features f WHERE f.collection_id = feature_delete.collection_id AND f.id = feature_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no feature % in collection %', feature_id, collection_id USING ERRCODE = 'P0002';
    END IF;
    RETURN jsonb_build_object('deleted', feature_id, 'collection', collection_id);
END
$$;
COMMENT ON FUNCTION api.feature_delete(text, text, jsonb) IS
    'DELETE /collections/{id}/items/{featureId}: removes a feature (404 if absent).';

CREATE OR REPLACE FUNCTION api.features_upload(collection_id text, body jsonb, params jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
    v_srid int := libs.features_body_srid(body, params);
    n bigint;
BEGIN
    PERFORM api.features_collection_create(coalesce(body -> 'collection', '{}') || jsonb_build_object('id', collection_id),
        params || jsonb_build_object('crs', 'EPSG:' || (SELECT auth_srid FROM public.spatial_ref_sys s WHERE s.srid = v_srid)));
    PERFORM libs.features_stage_json(body);
    n := libs.features_ingest(collection_id, v_srid);
    RETURN (SELECT content FROM pgstac.collections WHERE id = collection_id) || jsonb_build_object('numberCreated', n);
END
$$;
COMMENT ON FUNCTION api.features_upload(text, jsonb, jsonb) IS
    'POST /collections/{id}/features:upload: creates (params.force: replaces) a feature collection from a GeoJSON '
    'FeatureCollection in one transaction; its "collection" member may carry title/description; params.crs or '
    'the crs member give the source CRS (default CRS84). Returns the STAC collection with numberCreated.';
