-- 304: the time-slice items of cubes registered before this migration get what libs.cube_items now writes:
-- web map links (web-map-links extension v1.2.0: 'xyz' PNG tiles, 'tilejson') of the cube's default layer (the
-- first index, else composite, band, mask: libs.cube_default_layer) at the slice's datetime; hrefs relative to the item's self link, made
-- absolute on the request's surface when read (libs.cube_item_hrefs). Plain SQL: db/src is applied after.
SET LOCAL search_path = pgstac, public;  -- pgSTAC's partition triggers need it

WITH d AS (
    SELECT DISTINCT ON (l.collection_id) l.collection_id, l.name
    FROM data.cube_layers l
    ORDER BY l.collection_id, array_position(ARRAY['index', 'composite', 'band', 'mask'], l.kind), l.ord, l.name
), q AS (
    SELECT i.collection, i.id, d.name AS layer, i.content -> 'properties' ->> 'datetime' AS t,
           'layers=' || replace(replace(replace(d.name, '%', '%25'), ' ', '%20'), '&', '%26')
           || '&datetime=' || replace(replace(i.content -> 'properties' ->> 'datetime', ':', '%3A'), '+', '%2B') AS query
    FROM pgstac.items i JOIN d ON d.collection_id = i.collection
    WHERE i.content -> 'properties' ? 'stapi:time_index'
)
UPDATE pgstac.items i
SET content = i.content || jsonb_build_object(
    'links', coalesce((SELECT jsonb_agg(l) FROM jsonb_array_elements(
                 CASE WHEN jsonb_typeof(i.content -> 'links') = 'array' THEN i.content -> 'links' ELSE '[]' END) l
                 WHERE l ->> 'rel' NOT IN ('xyz', 'tilejson')), '[]')
        || jsonb_build_array(
            jsonb_build_object('rel', 'xyz', 'type', 'image/png',
                               'href', '../tiles/WebMercatorQuad/{z}/{x}/{y}.png?' || q.query,
                               'title', q.layer || ' at ' || q.t || ', PNG tiles'),
            jsonb_build_object('rel', 'tilejson', 'type', 'application/json',
                               'href', '../tiles/WebMercatorQuad/tilejson.json?' || q.query,
                               'title', q.layer || ' at ' || q.t || ', TileJSON')),
    'stac_extensions', (
        SELECT jsonb_agg(e ORDER BY n) FROM (
            SELECT e, min(n) AS n FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(i.content -> 'stac_extensions') = 'array'
                     THEN i.content -> 'stac_extensions' ELSE '[]' END
                || '["https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json"]'::jsonb)
                WITH ORDINALITY AS x(e, n) GROUP BY e) s))
FROM q
WHERE q.collection = i.collection AND q.id = i.id;
