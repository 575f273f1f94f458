-- 100: STAC API registrations: conformance classes, landing-page links, the links of 'stac' collections.

INSERT INTO data.conformance (uri, area) VALUES
    ('https://api.stacspec.org/v1.0.0/collections', 'stac'),
    ('https://api.stacspec.org/v1.0.0/ogcapi-features', 'stac'),
    ('https://api.stacspec.org/v1.0.0/item-search', 'stac'),
    ('https://api.stacspec.org/v1.0.0/item-search#filter', 'stac'),
    ('https://api.stacspec.org/v1.0.0/item-search#sort', 'stac'),
    ('https://api.stacspec.org/v1.0.0/item-search#fields', 'stac'),
    ('https://api.stacspec.org/v1.0.0/ogcapi-features#fields', 'stac'),
    ('https://api.stacspec.org/v1.0.0/ogcapi-features#sort', 'stac'),
    ('https://api.stacspec.org/v1.0.0/ogcapi-features#filter', 'stac'),
    ('https://api.stacspec.org/v1.0.0/collections/extensions/transaction', 'stac'),
    ('https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction', 'stac'),
    ('https://api.stacspec.org/v1.0.0-rc.1/collection-search', 'stac'),
    ('https://api.stacspec.org/v1.0.0-rc.1/collection-search#free-text', 'stac'),
    ('https://api.stacspec.org/v1.0.0-rc.1/collection-search#filter', 'stac'),
    ('https://api.stacspec.org/v1.0.0-rc.1/collection-search#sort', 'stac'),
    ('https://api.stacspec.org/v1.0.0-rc.1/collection-search#fields', 'stac'),
    ('http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core', 'stac'),
    ('http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson', 'stac'),
    ('http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30', 'stac'),
    ('http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter', 'stac'),
    ('http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter', 'stac'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/cql2-text', 'stac'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/cql2-json', 'stac'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2', 'stac'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators', 'stac'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions', 'stac'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus', 'stac'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions', 'stac'),
    ('http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions', 'stac')
ON CONFLICT DO NOTHING;

INSERT INTO data.landing_links (rel, path, type, title, method, ord) VALUES
    ('search', 'search', 'application/geo+json', 'STAC search (GET)', 'GET', 10),
    ('search', 'search#post', 'application/geo+json', 'STAC search (POST)', 'POST', 11),
    ('http://www.opengis.net/def/rel/ogc/1.0/queryables', 'queryables', 'application/schema+json',
     'Queryables for /search filters', NULL, 12)
ON CONFLICT DO NOTHING;

INSERT INTO data.collection_links (kind, rel, path, type, title, ord) VALUES
    ('stac', 'items', 'collections/{id}/items', 'application/geo+json', 'Items', 10),
    ('stac', 'http://www.opengis.net/def/rel/ogc/1.0/queryables', 'collections/{id}/queryables',
     'application/schema+json', 'Queryables', 11)
ON CONFLICT DO NOTHING;
