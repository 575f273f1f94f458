-- DataCube assets and links for remote clients, resolved on the surface the request came in on.
--
-- A time-slice item is stored (libs.cube_items, migration 303) with hrefs relative to its own self link
-- (.../collections/{id}/items/{itemId}): '../zarr' is the collection's Zarr store served over HTTP
-- (GET /collections/{id}/zarr/{key}). Read paths (libs.stac_item_linked, libs.stac_search) make them absolute
-- with libs.cube_item_hrefs; a collection gets its 'data' asset at read time (libs.cube_collection_at).
-- Loaded before stac.sql: its item and collection functions call these.

CREATE OR REPLACE FUNCTION libs.cube_item_hrefs(item jsonb, href text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- A cube time slice (properties.stapi:time_index) with every href '../x' (relative to the item's self
    -- link) made absolute: href || '/x', href being its collection's URL. What a client would resolve, done
    -- once for it. One expression on the canonical text of the item (jsonb prints '"href": "'), no sub-SELECT:
    -- PostgreSQL inlines it into the read queries, and other items pass untouched.
    SELECT CASE WHEN href IS NOT NULL AND item -> 'properties' ? 'stapi:time_index' THEN
        replace(item::text, '"href": "../', '"href": ' || left(to_jsonb(href || '/')::text, -1))::jsonb
    ELSE item END;
$$;
COMMENT ON FUNCTION libs.cube_item_hrefs(jsonb, text) IS
    'A cube time-slice item with its relative hrefs (''../zarr'', ...) resolved against its collection URL href.';

CREATE OR REPLACE FUNCTION libs.cube_data_asset(href text, title text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- The 'data' asset of a cube (collection) or one of its time slices (item): the served Zarr store over HTTP,
    -- with the xarray-assets extension's open arguments (xpystac, odc-stac: xr.open_dataset(href, **kwargs)).
    SELECT jsonb_build_object(
        'href', href,
        'type', 'application/vnd+zarr',
        'title', coalesce(title, 'Zarr store (dims time, y, x in EPSG:3857), read-only over HTTP'),
        'roles', '["data"]'::jsonb,
        'xarray:open_kwargs', '{"engine": "zarr", "consolidated": true, "chunks": {}}'::jsonb);
$$;

CREATE OR REPLACE FUNCTION libs.cube_extensions(existing jsonb, added jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- stac_extensions: those there, plus those added (each once, in order).
    SELECT coalesce(jsonb_agg(e ORDER BY n), '[]') FROM (
        SELECT e, min(n) AS n FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(existing) = 'array' THEN existing ELSE '[]' END || added)
            WITH ORDINALITY AS x(e, n) GROUP BY e) d;
$$;

CREATE OR REPLACE FUNCTION libs.cube_web_extensions() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '["https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json",
             "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json"]'::jsonb;
$$;

CREATE OR REPLACE FUNCTION libs.cube_default_layer(collection_id text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- The layer drawn when none is asked (the same rule as the worker): first index, composite, band, mask.
    SELECT l.name FROM data.cube_layers l WHERE l.collection_id = cube_default_layer.collection_id
    ORDER BY array_position(ARRAY['index', 'composite', 'band', 'mask'], l.kind), l.ord, l.name LIMIT 1;
$$;

CREATE OR REPLACE FUNCTION libs.cube_collection_at(content jsonb, kind text) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
-- A cube or hybrid collection document with its 'data' asset (the Zarr store on this surface) and the
-- xarray-assets extension, and web map links (xyz, tilejson) of its default layer at the latest time
-- step; other collections (a hybrid without its cube yet) pass untouched. PL/pgSQL: libs.url_encode (stac.sql)
-- comes later.
DECLARE
    href text;
    layer text;
BEGIN
    IF kind IS DISTINCT FROM 'cube' AND kind IS DISTINCT FROM 'hybrid'
       OR NOT EXISTS (SELECT 1 FROM data.cubes c WHERE c.collection_id = content ->> 'id') THEN
        RETURN content;
    END IF;
    href := libs.url('collections/' || libs.url_encode(content ->> 'id'));
    layer := libs.cube_default_layer(content ->> 'id');
    RETURN content || jsonb_build_object(
        'assets', CASE WHEN jsonb_typeof(content -> 'assets') = 'object' THEN content -> 'assets' ELSE '{}' END
                  || jsonb_build_object('data', libs.cube_data_asset(href || '/zarr')),
        'links', coalesce((SELECT jsonb_agg(l) FROM jsonb_array_elements(
                     CASE WHEN jsonb_typeof(content -> 'links') = 'array' THEN content -> 'links' ELSE '[]' END) l
                     WHERE l ->> 'rel' NOT IN ('xyz', 'tilejson')), '[]')
                 || libs.cube_web_links(href, layer, NULL),
        'stac_extensions', libs.cube_extensions(content -> 'stac_extensions', libs.cube_web_extensions()));
END
$$;
COMMENT ON FUNCTION libs.cube_collection_at(jsonb, text) IS
    'A collection document with, for cubes and hybrids, the collection-level data asset (Zarr over HTTP).';

-- Web map links (STAC web-map-links extension v1.2.0: xyz, tilejson) of a cube or one of its time slices. base: the collection's URL, or '..' for a stored item (resolved when read). t: the slice's
-- RFC 3339 instant, NULL for the collection (the latest time step).
CREATE OR REPLACE FUNCTION libs.cube_query_value(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- Percent-encoding of what a layer name or an instant may hold in a query value (libs.url_encode is
    -- defined later; this file loads first).
    SELECT replace(replace(replace(replace(replace(replace(replace(replace(replace(
        value, '%', '%25'), ':', '%3A'), '+', '%2B'), ' ', '%20'), '&', '%26'), '#', '%23'), '/', '%2F'),
        '?', '%3F'), '=', '%3D');
$$;

CREATE OR REPLACE FUNCTION libs.cube_map_query(layer text, t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 'layers=' || libs.cube_query_value(layer)
        || CASE WHEN t IS NULL THEN '' ELSE '&datetime=' || libs.cube_query_value(t) END;
$$;

CREATE OR REPLACE FUNCTION libs.cube_web_links(base text, layer text, t text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN layer IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(
        jsonb_build_object('rel', 'xyz', 'type', 'image/png',
                           'href', base || '/tiles/WebMercatorQuad/{z}/{x}/{y}.png?' || libs.cube_map_query(layer, t),
                           'title', layer || coalesce(' at ' || t, ' (latest time step)') || ', PNG tiles'),
        jsonb_build_object('rel', 'tilejson', 'type', 'application/json',
                           'href', base || '/tiles/WebMercatorQuad/tilejson.json?' || libs.cube_map_query(layer, t),
                           'title', layer || coalesce(' at ' || t, ' (latest time step)') || ', TileJSON'))
    END;
$$;
