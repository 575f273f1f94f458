-- 101: cube collections link their items (one STAC item per time slice) and queryables, as STAC
-- collections do, so STAC Browser and pystac-client can walk from a cube collection to its items.
INSERT INTO data.collection_links (kind, rel, path, type, title, ord) VALUES
    ('cube', 'items', 'collections/{id}/items', 'application/geo+json', 'Time slices (STAC items)', 10),
    ('cube', 'http://www.opengis.net/def/rel/ogc/1.0/queryables', 'collections/{id}/queryables',
     'application/schema+json', 'Queryables', 11)
ON CONFLICT DO NOTHING;
