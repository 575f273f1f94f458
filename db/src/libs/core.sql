-- Helpers every published function uses: the request's base URL, links, the writer check.

-- base_url, url and link have no SET clause on purpose: PostgreSQL inlines them into the calling statement
-- (a SQL function it cannot inline is planned again on every call). They use only pg_catalog built-ins.
CREATE OR REPLACE FUNCTION libs.base_url() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    -- The gateway sets request.base_url per transaction ('http://host/' or 'http://host/api/v2/').
    SELECT coalesce(nullif(current_setting('request.base_url', true), ''), 'http://localhost:8080/');
$$;
COMMENT ON FUNCTION libs.base_url() IS 'Base URL of the surface the request came in on, ending in a slash.';

CREATE OR REPLACE FUNCTION libs.url(path text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT libs.base_url() || ltrim(coalesce(path, ''), '/');
$$;

CREATE OR REPLACE FUNCTION libs.link(rel text, href text, type text DEFAULT 'application/json',
                                     title text DEFAULT NULL, method text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object('rel', rel, 'href', href, 'type', type,
                                                'title', title, 'method', method));
$$;

CREATE OR REPLACE FUNCTION libs.require_writer() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF NOT pg_has_role(current_user, 'stapi_writer', 'MEMBER') THEN
        RAISE EXCEPTION 'this operation needs write access'
            USING ERRCODE = '42501', HINT = 'send Authorization: Bearer <token>';
    END IF;
END
$$;
COMMENT ON FUNCTION libs.require_writer() IS 'Raises 42501 (HTTP 401) unless the current role may write.';

-- Only the given keys of a JSON object (property selections: features, tiles).
CREATE OR REPLACE FUNCTION libs.jsonb_pick(doc jsonb, keys text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') FROM jsonb_each(doc) e WHERE e.key = ANY (keys);
$$;
COMMENT ON FUNCTION libs.jsonb_pick(jsonb, text[]) IS 'The members of doc whose keys are in keys.';
