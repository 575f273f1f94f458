-- Landing page and conformance (OGC API Common, STAC API core).

CREATE OR REPLACE FUNCTION api.conformance(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_object('conformsTo', coalesce(jsonb_agg(uri ORDER BY uri), '[]'))
    FROM data.conformance;
$$;
COMMENT ON FUNCTION api.conformance(jsonb) IS 'GET /conformance: the conformance classes this server implements.';

CREATE OR REPLACE FUNCTION api.landing(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_object(
        'type', 'Catalog',
        'stac_version', '1.0.0',
        'id', 'spatiotemporal-api',
        'title', 'Spatio-Temporal API',
        'description', 'Zarr DataCubes and vector feature collections under one /collections: '
                       'STAC API, OGC API Features and Tiles.',
        'conformsTo', (api.conformance() -> 'conformsTo'),
        'links', (
            SELECT jsonb_agg(libs.link(l.rel, libs.url(split_part(l.path, '#', 1)), l.type, l.title, l.method) ORDER BY l.ord, l.rel)
            FROM data.landing_links l
        ) || coalesce((
            SELECT jsonb_agg(libs.link('child', libs.url('collections/' || c.id), 'application/json',
                                       c.content ->> 'title') ORDER BY c.id)
            FROM pgstac.collections c
        ), '[]')
    );
$$;
COMMENT ON FUNCTION api.landing(jsonb) IS 'GET /: the landing page (STAC root catalog) with conformsTo and links.';
