-- 001: schemas by layer, roles, and the core registry tables every kind of collection shares.
--   data  private tables          libs  helpers (request context, links)
--   api   the published functions the gateway (and an analyst in psql) calls
-- Every table that belongs to a collection references pgstac.collections(id) ON DELETE CASCADE,
-- so deleting a collection (pgstac or ours) never leaves rows behind.

CREATE SCHEMA IF NOT EXISTS data;
CREATE SCHEMA IF NOT EXISTS libs;
CREATE SCHEMA IF NOT EXISTS api;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stapi_anon') THEN
        CREATE ROLE stapi_anon NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stapi_writer') THEN
        CREATE ROLE stapi_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stapi_authenticator') THEN
        CREATE ROLE stapi_authenticator LOGIN NOINHERIT;
    END IF;
END
$$;

GRANT pgstac_read TO stapi_anon;
GRANT stapi_anon TO stapi_writer;
GRANT pgstac_ingest TO stapi_writer;
GRANT stapi_anon, stapi_writer TO stapi_authenticator;

-- What kind of collection an id is, and what the platform knows about it beyond its STAC document.
CREATE TABLE IF NOT EXISTS data.collection_meta (
    collection_id text PRIMARY KEY REFERENCES pgstac.collections (id) ON DELETE CASCADE ON UPDATE CASCADE,
    kind text NOT NULL DEFAULT 'stac' CHECK (kind IN ('stac', 'features', 'cube', 'hybrid')),
    source_crs text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Conformance classes and landing-page links: each capability registers its own rows in its migration.
CREATE TABLE IF NOT EXISTS data.conformance (
    uri text PRIMARY KEY,
    area text NOT NULL
);

CREATE TABLE IF NOT EXISTS data.landing_links (
    rel text NOT NULL,
    path text NOT NULL,          -- relative to the surface's base URL ('' is the landing page itself)
    type text,
    title text,
    method text,
    ord int NOT NULL DEFAULT 100,
    PRIMARY KEY (rel, path)
);

INSERT INTO data.conformance (uri, area) VALUES
    ('http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core', 'core'),
    ('http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page', 'core'),
    ('http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json', 'core'),
    ('http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30', 'core'),
    ('http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections', 'core'),
    ('https://api.stacspec.org/v1.0.0/core', 'core')
ON CONFLICT DO NOTHING;

INSERT INTO data.landing_links (rel, path, type, title, ord) VALUES
    ('self', '', 'application/json', 'This document', 1),
    ('root', '', 'application/json', 'Root catalog', 2),
    ('conformance', 'conformance', 'application/json', 'Conformance classes', 3),
    ('data', 'collections', 'application/json', 'Collections', 4),
    ('service-desc', 'api', 'application/vnd.oai.openapi+json;version=3.0', 'OpenAPI document', 5),
    ('service-doc', 'api.html', 'text/html', 'API documentation', 6)
ON CONFLICT DO NOTHING;
