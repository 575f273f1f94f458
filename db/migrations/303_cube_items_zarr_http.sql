-- 303: the 'data' asset of the time-slice items of cubes registered before this migration points at the
-- collection's Zarr store served over HTTP (GET /collections/{id}/zarr/{key}), as libs.cube_items now writes
-- it: the href '../zarr' is relative to the item's self link and read paths make it absolute on the request's
-- surface (libs.cube_item_hrefs). It was a filesystem path of the server (or the uploaded source's URL) that
-- no remote client could open. The asset carries the xarray-assets extension's open arguments.
SET LOCAL search_path = pgstac, public;  -- pgSTAC's partition triggers need it

UPDATE pgstac.items i
SET content = i.content || jsonb_build_object(
    'assets', CASE WHEN jsonb_typeof(i.content -> 'assets') = 'object' THEN i.content -> 'assets' ELSE '{}' END
        || jsonb_build_object('data', jsonb_build_object(
            'href', '../zarr',
            'type', 'application/vnd+zarr',
            'title', 'Zarr store (dims time, y, x in EPSG:3857) over HTTP; this item is time index '
                     || (i.content -> 'properties' ->> 'stapi:time_index'),
            'roles', '["data"]'::jsonb,
            'xarray:open_kwargs', '{"engine": "zarr", "consolidated": true, "chunks": {}}'::jsonb)),
    'stac_extensions', (
        SELECT jsonb_agg(e ORDER BY n) FROM (
            SELECT e, min(n) AS n FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(i.content -> 'stac_extensions') = 'array'
                     THEN i.content -> 'stac_extensions' ELSE '[]' END
                || '["https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json"]'::jsonb)
                WITH ORDINALITY AS x(e, n) GROUP BY e) d))
WHERE i.content -> 'properties' ? 'stapi:time_index'
  AND EXISTS (SELECT 1 FROM data.cubes c WHERE c.collection_id = i.collection);
