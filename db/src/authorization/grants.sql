-- Roles and grants in one place. Runs last in the manifest, so it covers every object defined before it.
-- stapi_anon reads; stapi_writer (the gateway with a valid token, or an admin in psql) writes.
GRANT USAGE ON SCHEMA api, libs, data TO stapi_anon;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api, libs TO stapi_anon;
GRANT SELECT ON ALL TABLES IN SCHEMA data TO stapi_anon;
GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA data TO stapi_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA data TO stapi_writer;
