-- 150: conformance classes checked against the documents that define them (STAC side), and sortables.
--
-- Removed:
-- * https://api.stacspec.org/v1.0.0/ogcapi-features#filter: no such class. STAC API v1.0.0 defines core,
--   collections, ogcapi-features and item-search; the Filter extension (stac-api-extensions/filter v1.0.0-rc.4,
--   README "Conformance Classes") binds /collections/{id}/items through OGC's features-filter class, which we
--   declare, and names only https://api.stacspec.org/v1.0.0/item-search#filter of its own.
-- Added:
-- * http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/simple-query: required by STAC API Collection
--   Search v1.0.0-rc.1 (README "Conformance Classes": bbox, datetime, limit on GET /collections), which we
--   declare and implement.
-- * Sortables (GET /collections/{id}/sortables, linked from every collection): the published OGC API -
--   Features - Part 5 / Common - Part 3: Schemas (OGC 23-058r2, 2026-04-30; clause 2, table "Conformance
--   class URIs", {standard} = ogcapi-common-3) names it .../ogcapi-common-3/1.0/conf/sortables; the STAC
--   Sort extension v1.1.0 (README "Sortables" table) names the same endpoint's class
--   .../ogcapi-features-5/1.0/conf/sortables, the URI STAC clients look for. Both name this one class.
DELETE FROM data.conformance WHERE uri = 'https://api.stacspec.org/v1.0.0/ogcapi-features#filter';

INSERT INTO data.conformance (uri, area) VALUES
    ('http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/simple-query', 'stac'),
    ('http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/sortables', 'stac'),
    ('http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sortables', 'stac')
ON CONFLICT DO NOTHING;

INSERT INTO data.collection_links (kind, rel, path, type, title, ord) VALUES
    ('stac', 'http://www.opengis.net/def/rel/ogc/1.0/sortables', 'collections/{id}/sortables',
     'application/schema+json', 'Sortables', 13),
    ('cube', 'http://www.opengis.net/def/rel/ogc/1.0/sortables', 'collections/{id}/sortables',
     'application/schema+json', 'Sortables', 13)
ON CONFLICT DO NOTHING;
