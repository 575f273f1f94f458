-- Queryables of collection search (STAC API Collection Search v1.0.0-rc.1, "Filter (CQL)": the queryables
-- link of collection search is in the response of GET /collections; its path is the server's choice and
-- should not be /queryables). GET /collections?filter= reads pgSTAC's collections_asitems: the collection's
-- top-level fields, its spatial extent as geometry and its temporal extent as datetime..end_datetime.
CREATE OR REPLACE FUNCTION api.collections_queryables(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM libs.features_check_query(params -> 'query', '{}', ARRAY['f']);
    RETURN jsonb_build_object(
        '$schema', 'https://json-schema.org/draft/2019-09/schema',
        '$id', libs.url('collection-queryables'),
        'type', 'object',
        'title', 'Queryables for collection search (GET /collections?filter=)',
        'properties', '{
            "id": {"title": "Collection id", "type": "string"},
            "title": {"title": "Title", "type": "string"},
            "description": {"title": "Description", "type": "string"},
            "license": {"title": "License", "type": "string"},
            "keywords": {"title": "Keywords", "type": "array", "items": {"type": "string"}},
            "datetime": {"title": "Start of the temporal extent", "type": "string", "format": "date-time"},
            "end_datetime": {"title": "End of the temporal extent", "type": "string", "format": "date-time"},
            "geometry": {"title": "Spatial extent", "x-ogc-role": "primary-geometry",
                         "$ref": "https://geojson.org/schema/Geometry.json"}}'::jsonb,
        'additionalProperties', true);
END
$$;
COMMENT ON FUNCTION api.collections_queryables(jsonb) IS
    'GET /collection-queryables: what a collection search filter (GET /collections?filter=) may use, as a '
    'JSON Schema (draft 2019-09); any other top-level field of a collection document may be named too.';
