-- Feature collections: the statement-level triggers on data.features that keep each collection's derived
-- metadata (data.feature_collections: bbox, time range, property kinds; data.feature_property_counts; the STAC
-- extent) equal to what libs.features_refresh would compute from all the features, at the cost of the changed
-- rows: a single-feature PUT, PATCH or DELETE costs the same on 100 features as on 100,000 (README "Feature
-- collections"; bench/bench_feature_writes.py).
-- * property kinds: the triggers add (inserted rows) and subtract (deleted rows) per (property, kind) counts,
--   one GROUP BY over the transition table; a property's kind is recomputed from its count rows only.
-- * extent: new rows widen it; old rows can only shrink it when they reached its edge (or its first or last
--   instant), and only that edge is searched again, through an index (libs.features_edge, features_time_*).

-- The extreme edge of a collection's features (1 west = min x, 2 south = min y, 3 east = max x, 4 north = max y),
-- exactly what ST_Extent over all of them gives, through the spatial index: the feature nearest to a line
-- beyond that edge (KNN over the index's boxes), then the extreme among the features whose boxes reach as far
-- as that one's edge (the index keeps single-precision boxes: the nearest by it is near the extreme, and every
-- feature at least as far out is among those). NULL when the collection has no features.
CREATE OR REPLACE FUNCTION libs.features_edge(cid text, edge int) RETURNS double precision
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
    h int := hashtext(cid);
    far constant double precision := 1e6;
    probe geometry := st_setsrid(CASE edge
        WHEN 1 THEN st_makeline(st_makepoint(-far, -far), st_makepoint(-far, far))
        WHEN 2 THEN st_makeline(st_makepoint(-far, -far), st_makepoint(far, -far))
        WHEN 3 THEN st_makeline(st_makepoint(far, -far), st_makepoint(far, far))
        ELSE st_makeline(st_makepoint(-far, far), st_makepoint(far, far)) END, 4326);
    g geometry;
    v double precision;
    reach geometry;
    e box2d;
BEGIN
    SELECT f.geom INTO g FROM data.features f
    WHERE hashtext(f.collection_id) = h AND f.collection_id = cid
    ORDER BY f.geom <#> probe LIMIT 1;
    IF g IS NULL THEN
        RETURN NULL;
    END IF;
    v := CASE edge WHEN 1 THEN st_xmin(g) WHEN 2 THEN st_ymin(g) WHEN 3 THEN st_xmax(g) ELSE st_ymax(g) END;
    reach := CASE edge WHEN 1 THEN st_makeenvelope(-far, -far, v, far, 4326)
                       WHEN 2 THEN st_makeenvelope(-far, -far, far, v, 4326)
                       WHEN 3 THEN st_makeenvelope(v, -far, far, far, 4326)
                       ELSE st_makeenvelope(-far, v, far, far, 4326) END;
    SELECT st_extent(f.geom) INTO e FROM data.features f
    WHERE hashtext(f.collection_id) = h AND f.collection_id = cid AND f.geom && reach;
    RETURN CASE edge WHEN 1 THEN st_xmin(e) WHEN 2 THEN st_ymin(e) WHEN 3 THEN st_xmax(e) ELSE st_ymax(e) END;
END
$$;
COMMENT ON FUNCTION libs.features_edge(text, int) IS
    'One edge of the extent of a collection''s features (1 min x, 2 min y, 3 max x, 4 max y), through the '
    'spatial index; NULL without features.';

-- The first instant of a collection's features (min datetime) and the last (max of end_datetime, else
-- datetime), through features_datetime_idx and features_end_datetime_idx.
CREATE OR REPLACE FUNCTION libs.features_time_min(cid text) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT f.datetime FROM data.features f
    WHERE f.collection_id = cid AND f.datetime IS NOT NULL ORDER BY f.datetime LIMIT 1;
$$;

CREATE OR REPLACE FUNCTION libs.features_time_max(cid text) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH ends AS (SELECT max(f.end_datetime) AS t FROM data.features f
                  WHERE f.collection_id = cid AND f.end_datetime IS NOT NULL)
    -- features without an end count with their datetime; only those later than every end can matter
    SELECT greatest(ends.t, (SELECT f.datetime FROM data.features f
                             WHERE f.collection_id = cid AND f.datetime IS NOT NULL AND f.end_datetime IS NULL
                               AND (ends.t IS NULL OR f.datetime > ends.t)
                             ORDER BY f.datetime DESC LIMIT 1))
    FROM ends;
$$;

-- Applies one statement's change to a collection's derived metadata: `added` and `removed` are the box and
-- time range of the inserted and deleted rows (an UPDATE: both), keys/kinds/deltas the change of the
-- property counts. A collection being deleted (its pgSTAC row gone: the cascade) is left alone; one without
-- a row in data.feature_collections gets one (inserts) or is left alone (updates, deletes), as before.
-- Counts that would go negative mean they were not kept (a write that bypassed the triggers): the
-- collection is then recounted (libs.features_refresh).
CREATE OR REPLACE FUNCTION libs.features_meta_apply(
    cid text, added box2d, added_t0 timestamptz, added_t1 timestamptz,
    removed box2d, removed_t0 timestamptz, removed_t1 timestamptz,
    keys text[], kinds text[], deltas bigint[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    fc data.feature_collections;
    b double precision[];
    t0 timestamptz;
    t1 timestamptz;
    pk jsonb;
    touched text[];
    lowest bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgstac.collections c WHERE c.id = cid) THEN
        RETURN;
    END IF;
    SELECT * INTO fc FROM data.feature_collections f WHERE f.collection_id = cid FOR UPDATE;
    IF NOT FOUND THEN
        IF removed IS NOT NULL THEN
            RETURN;
        END IF;
        INSERT INTO data.feature_collections (collection_id) VALUES (cid) ON CONFLICT DO NOTHING;
        PERFORM libs.features_refresh(cid);
        RETURN;
    END IF;
    -- property counts, then the kinds of the properties whose counts changed
    SELECT array_agg(u.k) INTO touched FROM unnest(keys, deltas) u(k, d) WHERE u.d <> 0;
    IF touched IS NOT NULL THEN
        WITH up AS (
            INSERT INTO data.feature_property_counts AS c (collection_id, key, kind, n)
            SELECT cid, u.k, u.t, u.d FROM unnest(keys, kinds, deltas) u(k, t, d) WHERE u.d <> 0
            ON CONFLICT (collection_id, key, kind) DO UPDATE SET n = c.n + excluded.n
            RETURNING c.n)
        SELECT min(up.n) INTO lowest FROM up;
        IF lowest < 0 THEN
            PERFORM libs.features_refresh(cid);
            RETURN;
        END IF;
        DELETE FROM data.feature_property_counts c WHERE c.collection_id = cid AND c.key = ANY (touched) AND c.n = 0;
        pk := (fc.property_kinds - touched) || libs.features_kinds_counted(cid, touched);
    ELSE
        pk := fc.property_kinds;
    END IF;
    -- extent: search again only the edges the removed rows reached, then widen by the added rows
    b := fc.bbox;
    IF removed IS NOT NULL AND b IS NOT NULL THEN
        IF st_xmin(removed) <= b[1] THEN b[1] := libs.features_edge(cid, 1); END IF;
        IF st_ymin(removed) <= b[2] THEN b[2] := libs.features_edge(cid, 2); END IF;
        IF st_xmax(removed) >= b[3] THEN b[3] := libs.features_edge(cid, 3); END IF;
        IF st_ymax(removed) >= b[4] THEN b[4] := libs.features_edge(cid, 4); END IF;
        IF b[1] IS NULL OR b[2] IS NULL OR b[3] IS NULL OR b[4] IS NULL THEN
            b := NULL;   -- no feature left
        END IF;
    END IF;
    IF added IS NOT NULL THEN
        b := CASE WHEN b IS NULL THEN ARRAY[st_xmin(added), st_ymin(added), st_xmax(added), st_ymax(added)]
                  ELSE ARRAY[least(b[1], st_xmin(added)), least(b[2], st_ymin(added)),
                             greatest(b[3], st_xmax(added)), greatest(b[4], st_ymax(added))] END;
    END IF;
    t0 := CASE WHEN removed_t0 <= fc.time_min THEN libs.features_time_min(cid) ELSE fc.time_min END;
    t1 := CASE WHEN removed_t1 >= fc.time_max THEN libs.features_time_max(cid) ELSE fc.time_max END;
    t0 := least(t0, added_t0);
    t1 := greatest(t1, added_t1);
    IF (b, t0, t1, pk) IS NOT DISTINCT FROM (fc.bbox, fc.time_min, fc.time_max, fc.property_kinds) THEN
        RETURN;
    END IF;
    UPDATE data.feature_collections f
    SET bbox = b, time_min = t0, time_max = t1, property_kinds = pk, updated_at = now()
    WHERE f.collection_id = cid;
    IF (b, t0, t1) IS DISTINCT FROM (fc.bbox, fc.time_min, fc.time_max) THEN
        PERFORM libs.features_write_extent(cid);
    END IF;
END
$$;
COMMENT ON FUNCTION libs.features_meta_apply(text, box2d, timestamptz, timestamptz, box2d, timestamptz,
                                             timestamptz, text[], text[], bigint[]) IS
    'Applies one statement''s inserted/deleted rows (their box, time range and property-count deltas) to a '
    'feature collection''s extent, property counts and kinds (the triggers on data.features).';

-- The triggers: one GROUP BY per collection over the transition tables (each distinct (property, value)
-- classified once), then libs.features_meta_apply.
CREATE OR REPLACE FUNCTION libs.features_after_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    c record;
BEGIN
    FOR r IN
        SELECT n.collection_id AS cid, st_extent(n.geom) AS box, min(n.datetime) AS t0,
               max(coalesce(n.end_datetime, n.datetime)) AS t1
        FROM new_rows n GROUP BY n.collection_id ORDER BY n.collection_id
    LOOP
        SELECT array_agg(x.key) AS keys, array_agg(x.kind) AS kinds, array_agg(x.n) AS deltas INTO c
        FROM (SELECT v.key, coalesce(libs.jsonb_kind(v.value), 'null') AS kind, sum(v.n)::bigint AS n
              FROM (SELECT e.key, e.value, count(*) AS n FROM new_rows n, jsonb_each(n.properties) e
                    WHERE n.collection_id = r.cid GROUP BY 1, 2) v
              GROUP BY 1, 2) x;
        PERFORM libs.features_meta_apply(r.cid, r.box, r.t0, r.t1, NULL, NULL, NULL, c.keys, c.kinds, c.deltas);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION libs.features_after_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    c record;
BEGIN
    -- not the collections being deleted (the cascade from pgstac.collections: their rows are gone already)
    FOR r IN
        SELECT o.collection_id AS cid, st_extent(o.geom) AS box, min(o.datetime) AS t0,
               max(coalesce(o.end_datetime, o.datetime)) AS t1
        FROM old_rows o
        WHERE o.collection_id IN (SELECT pc.id FROM pgstac.collections pc)
          AND o.collection_id IN (SELECT fc.collection_id FROM data.feature_collections fc)
        GROUP BY o.collection_id ORDER BY o.collection_id
    LOOP
        SELECT array_agg(x.key) AS keys, array_agg(x.kind) AS kinds, array_agg(x.n) AS deltas INTO c
        FROM (SELECT v.key, coalesce(libs.jsonb_kind(v.value), 'null') AS kind, -sum(v.n)::bigint AS n
              FROM (SELECT e.key, e.value, count(*) AS n FROM old_rows o, jsonb_each(o.properties) e
                    WHERE o.collection_id = r.cid GROUP BY 1, 2) v
              GROUP BY 1, 2) x;
        PERFORM libs.features_meta_apply(r.cid, NULL, NULL, NULL, r.box, r.t0, r.t1, c.keys, c.kinds, c.deltas);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION libs.features_after_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    cid text;
    ins record;
    del record;
    c record;
BEGIN
    FOR cid IN SELECT x.id FROM (SELECT n.collection_id AS id FROM new_rows n
                                 UNION SELECT d.collection_id FROM old_rows d) x
               WHERE x.id IN (SELECT fc.collection_id FROM data.feature_collections fc) ORDER BY 1 LOOP
        SELECT st_extent(n.geom) AS box, min(n.datetime) AS t0, max(coalesce(n.end_datetime, n.datetime)) AS t1
        INTO ins FROM new_rows n WHERE n.collection_id = cid;
        SELECT st_extent(d.geom) AS box, min(d.datetime) AS t0, max(coalesce(d.end_datetime, d.datetime)) AS t1
        INTO del FROM old_rows d WHERE d.collection_id = cid;
        SELECT array_agg(x.key) AS keys, array_agg(x.kind) AS kinds, array_agg(x.n) AS deltas INTO c
        FROM (SELECT v.key, coalesce(libs.jsonb_kind(v.value), 'null') AS kind, sum(v.n)::bigint AS n
              FROM (SELECT e.key, e.value, sum(s.sign) AS n
                    FROM (SELECT n.properties, 1 AS sign FROM new_rows n WHERE n.collection_id = cid
                          UNION ALL
                          SELECT d.properties, -1 FROM old_rows d WHERE d.collection_id = cid) s,
                         jsonb_each(s.properties) e
                    GROUP BY 1, 2) v
              GROUP BY 1, 2) x WHERE x.n <> 0;
        PERFORM libs.features_meta_apply(cid, ins.box, ins.t0, ins.t1, del.box, del.t0, del.t1, c.keys, c.kinds, c.deltas);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER features_after_insert AFTER INSERT ON data.features
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION libs.features_after_insert();
CREATE OR REPLACE TRIGGER features_after_update AFTER UPDATE ON data.features
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION libs.features_after_update();
CREATE OR REPLACE TRIGGER features_after_delete AFTER DELETE ON data.features
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION libs.features_after_delete();
-- the one function both update and delete triggers called before (a full recount of the collection)
DROP FUNCTION IF EXISTS libs.features_after_change();
