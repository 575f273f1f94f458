-- Feature collections in the OpenAPI document: each feature or hybrid collection's items path with its
-- queryables as query parameters (OGC API Features Part 1, 7.15.5 "Parameters for filtering on feature
-- properties", and Part 3's queryables-query-parameters class: ?crop=wheat). Clients read the parameters
-- there: GDAL's OAPIF driver sends an attribute filter to the server only for properties declared so.
-- The gateway (api_gateway/routes/core.py) adds the rest of each path item.

CREATE OR REPLACE FUNCTION api.features_openapi_parameters(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    -- {collection id: [OpenAPI query parameter, ...]}, one parameter per queryable property whose name is
    -- not one of the items request's own parameters (libs.features_query_params) and whose kind a
    -- ?name=value equality can test (not array, object, mixed or only null)
    SELECT coalesce(jsonb_object_agg(m.collection_id, coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'name', e.key, 'in', 'query', 'required', false, 'style', 'form', 'explode', false,
                   'description', format('Only features whose property %s equals this value (queryable)', e.key),
                   'schema', libs.kind_schema(e.value #>> '{}')) ORDER BY e.key)
        FROM jsonb_each(fc.property_kinds) e
        WHERE e.key <> ALL (libs.features_query_params())
          AND e.value #>> '{}' IN ('integer', 'number', 'string', 'date', 'date-time', 'boolean')), '[]')
        ORDER BY m.collection_id), '{}')
    FROM data.collection_meta m
    JOIN data.feature_collections fc USING (collection_id)
    WHERE m.kind IN ('features', 'hybrid');
$$;
COMMENT ON FUNCTION api.features_openapi_parameters(jsonb) IS
    'The query parameters of each feature collection''s /collections/{id}/items in the OpenAPI document: '
    '{"<collection id>": [{"name": "crop", "in": "query", "schema": {"type": "string"}, ...}, ...]}, one per '
    'queryable of a scalar kind (?crop=wheat filters on it).';
