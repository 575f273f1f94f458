-- 302: the time-slice items of cubes registered before this migration become valid under the datacube
-- extension (v2.2.0) they declare, as libs.cube_items now writes them: properties carry their own
-- cube:dimensions (the collection's x and y, a time dimension of the slice's instant) and the collection's
-- cube:variables object (it was an array of names); the slice index moves from cube:time_index (a cube:*
-- field the extension forbids) to stapi:time_index. Online validators (STAC Browser, stac-validator) rejected
-- the old items.
SET LOCAL search_path = pgstac, public;  -- pgSTAC's partition triggers need it

UPDATE pgstac.items i
SET content = jsonb_set(i.content, '{properties}',
    ((i.content -> 'properties') - 'cube:time_index'::text - 'cube:variables'::text)
    || jsonb_build_object(
        'stapi:time_index', i.content -> 'properties' -> 'cube:time_index',
        'cube:dimensions', (coalesce(c.content -> 'cube:dimensions', '{}') - 'time'::text)
            || jsonb_build_object('time', jsonb_build_object(
                   'type', 'temporal',
                   'extent', jsonb_build_array(i.content -> 'properties' -> 'datetime',
                                               i.content -> 'properties' -> 'datetime'),
                   'values', jsonb_build_array(i.content -> 'properties' -> 'datetime'))),
        'cube:variables', coalesce(c.content -> 'cube:variables', '{}')))
FROM pgstac.collections c
WHERE c.id = i.collection AND i.content -> 'properties' ? 'cube:time_index';
