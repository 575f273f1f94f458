-- 250: conformance classes checked against the documents that define them (features side), and sortables.
--
-- Removed: http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sorting. Part 5 (Schemas, OGC 23-058r2,
-- clause 2) has no "sorting" class: its classes are schemas, advanced-property-roles, references,
-- returnables-and-receivables, queryables, sortables, profile-parameter, profile-references,
-- profile-codelists, profile-domains. Sorting is OGC API - Features - Part 8 (24-030), an unpublished draft
-- (.../ogcapi-features-8/1.0/conf/sorting, features-sorting). sortby on /items stays declared through the
-- STAC Sort extension's https://api.stacspec.org/v1.0.0/ogcapi-features#sort; its sortables through the
-- Part 5 "Sortables" class (migration 150).
-- Removed: http://www.opengis.net/spec/cql2/1.0/conf/arithmetic (inserted by 200, hence here). The list is
-- the whole API's, and item searches over STAC collections (pgSTAC) have +, -, * and / but not %, div and ^
-- (a 400 naming them, libs.stac_cql2_op); feature collections have all of it.
DELETE FROM data.conformance WHERE uri IN ('http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sorting',
                                           'http://www.opengis.net/spec/cql2/1.0/conf/arithmetic');

INSERT INTO data.conformance (uri, area) VALUES
    ('http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/sortables', 'features'),
    ('http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sortables', 'features')
ON CONFLICT DO NOTHING;

INSERT INTO data.collection_links (kind, rel, path, type, title, ord) VALUES
    ('features', 'http://www.opengis.net/def/rel/ogc/1.0/sortables', 'collections/{id}/sortables',
     'application/schema+json', 'Sortables', 13),
    ('hybrid', 'http://www.opengis.net/def/rel/ogc/1.0/sortables', 'collections/{id}/sortables',
     'application/schema+json', 'Sortables', 13)
ON CONFLICT DO NOTHING;
