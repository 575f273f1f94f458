-- CQL2 (cql2-json) to SQL, built in SQL: terms (literals, properties) and type coercion.
-- The operators are in libs/cql2_ops.sql; the entry point is libs.cql2_to_sql (at the end of cql2_ops.sql).
--
-- A term is a jsonb value {"sql": <SQL text>, "kind": k}, k one of
--   number, text, bool, date, timestamp, geometry, array (a jsonb array), jsonb (an untyped property),
--   null, interval (then "start" and "end" hold the SQL of both ends instead of "sql").
-- Every identifier and literal goes through quote_ident / quote_literal / format(%I, %L).

CREATE OR REPLACE FUNCTION libs.cql2_error(message text, hint text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    RAISE EXCEPTION 'filter: %', message USING ERRCODE = '22023',
        HINT = coalesce(hint, 'see https://docs.ogc.org/is/21-065r2/21-065r2.html for CQL2');
END
$$;
COMMENT ON FUNCTION libs.cql2_error(text, text) IS 'Raises a 22023 (HTTP 400) about a CQL2 filter.';

CREATE OR REPLACE FUNCTION libs.cql2_term_of(sql text, kind text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_object('sql', sql, 'kind', kind);
$$;

-- Safe extraction of a jsonb scalar as a SQL type (NULL when the value has another JSON type).
CREATE OR REPLACE FUNCTION libs.jsonb_numeric(j jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN j::numeric END;
$$;

CREATE OR REPLACE FUNCTION libs.jsonb_bool(j jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'boolean' THEN j::boolean END;
$$;

CREATE OR REPLACE FUNCTION libs.jsonb_text(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN jsonb_typeof(j) IN ('string', 'number', 'boolean') THEN j #>> '{}' END;
$$;

CREATE OR REPLACE FUNCTION libs.jsonb_timestamptz(j jsonb) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'string' AND (j #>> '{}') ~ '^\d{4}-\d{2}-\d{2}' THEN (j #>> '{}')::timestamptz END;
$$;

CREATE OR REPLACE FUNCTION libs.jsonb_date(j jsonb) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'string' AND (j #>> '{}') ~ '^\d{4}-\d{2}-\d{2}' THEN (j #>> '{}')::date END;
$$;

-- The kind of a JSON value, as data.feature_collections.property_kinds records it.
-- A number is an 'integer' when it is written without a fraction and fits a 64-bit integer (the widest
-- integer type of the sources: GeoPackage, Shapefile, PostgreSQL bigint, Parquet int64); anything else is a
-- 'number'. Integral in value is not enough: jsonb keeps numbers as numeric, 1.5e300 as its 301 digits
-- (scale 0) and -0.0 as 0.0, so value tests called both integers, yet they are floating-point measurements.
-- JSON Schema would also call 1.0 an integer; here a value written 1.0 (scale 1) is a 'number', as the float
-- column it comes from. 'number' always describes a column truly; 'integer' only when its values look like
-- integers.
-- No SET clause, so that it is inlined into the queries that classify every value of a bulk insert (a SET
-- clause prevents inlining); it names only pg_catalog objects, which are always searched first.
CREATE OR REPLACE FUNCTION libs.jsonb_kind(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(v)
        WHEN 'number' THEN CASE WHEN scale(v::numeric) = 0
                                     AND v::numeric BETWEEN -9223372036854775808 AND 9223372036854775807 THEN 'integer' ELSE 'number' END
        WHEN 'string' THEN CASE
            WHEN (v #>> '{}') ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$' THEN 'date'
            WHEN (v #>> '{}') ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?([Zz]|[+-]\d\d:?\d\d)$'
                THEN 'date-time'
            ELSE 'string' END
        WHEN 'null' THEN NULL
        ELSE jsonb_typeof(v) END;
$$;
COMMENT ON FUNCTION libs.jsonb_kind(jsonb) IS
    'The kind of a JSON value: integer, number, string, date, date-time, boolean, array, object; NULL for null.';

-- Two kinds seen for one property -> the kind that covers both.
CREATE OR REPLACE FUNCTION libs.kind_merge(a text, b text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE
        WHEN a IS NULL THEN b
        WHEN b IS NULL OR a = b THEN a
        WHEN a IN ('integer', 'number') AND b IN ('integer', 'number') THEN 'number'
        WHEN a IN ('date', 'date-time') AND b IN ('date', 'date-time') THEN 'date-time'
        WHEN a IN ('string', 'date', 'date-time') AND b IN ('string', 'date', 'date-time') THEN 'string'
        ELSE 'mixed' END;
$$;

-- Whether a value leaves a known kind as it is, by its JSON type alone (no regex, no cast): a string for
-- 'string', a number for 'number', anything for 'mixed', a null for any known kind. NULL kind (a property
-- not seen yet, or only nulls) absorbs nothing, and integer, date and date-time need the value's own kind.
-- No SET clause, so that it is inlined into the statement trigger's query over the new rows.
CREATE OR REPLACE FUNCTION libs.kind_absorbs(kind text, v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- one simple CASE, so that the inlined `kind` expression (a jsonb lookup) is evaluated once per value
    SELECT CASE coalesce(kind, '')
        WHEN '' THEN false
        WHEN 'mixed' THEN true
        WHEN 'string' THEN jsonb_typeof(v) IN ('string', 'null')
        WHEN 'number' THEN jsonb_typeof(v) IN ('number', 'null')
        WHEN 'boolean' THEN jsonb_typeof(v) IN ('boolean', 'null')
        WHEN 'array' THEN jsonb_typeof(v) IN ('array', 'null')
        WHEN 'object' THEN jsonb_typeof(v) IN ('object', 'null')
        ELSE jsonb_typeof(v) = 'null' END;
$$;
COMMENT ON FUNCTION libs.kind_absorbs(text, jsonb) IS
    'Whether libs.kind_merge(kind, libs.jsonb_kind(v)) = kind is certain from v''s JSON type alone.';

CREATE OR REPLACE AGGREGATE libs.kind_agg(text) (SFUNC = libs.kind_merge, STYPE = text, PARALLEL = SAFE);
COMMENT ON AGGREGATE libs.kind_agg(text) IS 'The kind covering all the kinds of a property''s values.';

CREATE OR REPLACE FUNCTION libs.cql2_sqltype(kind text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE kind WHEN 'number' THEN 'numeric' WHEN 'text' THEN 'text' WHEN 'bool' THEN 'boolean'
        WHEN 'date' THEN 'date' WHEN 'timestamp' THEN 'timestamptz' WHEN 'geometry' THEN 'public.geometry'
        ELSE 'jsonb' END;
$$;

CREATE OR REPLACE FUNCTION libs.cql2_as_jsonb(t jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN t ->> 'kind' IN ('jsonb', 'array') THEN t ->> 'sql'
                WHEN t ->> 'kind' = 'geometry' THEN format('public.st_asgeojson(%s)::jsonb', t ->> 'sql')
                ELSE format('to_jsonb(%s)', t ->> 'sql') END;
$$;

-- The SQL of a term read as another kind; NULL for an open interval end; a 400 when it cannot be.
CREATE OR REPLACE FUNCTION libs.cql2_as(t jsonb, kind text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    k text := t ->> 'kind';
    s text := t ->> 'sql';
BEGIN
    IF k = 'open' THEN RETURN NULL; END IF;
    IF k = kind THEN RETURN s; END IF;
    IF k = 'null' THEN RETURN format('NULL::%s', libs.cql2_sqltype(kind)); END IF;
    IF k = 'jsonb' OR (k = 'array' AND kind = 'jsonb') THEN
        RETURN CASE kind
            WHEN 'number' THEN format('libs.jsonb_numeric(%s)', s)
            WHEN 'text' THEN format('libs.jsonb_text(%s)', s)
            WHEN 'bool' THEN format('libs.jsonb_bool(%s)', s)
            WHEN 'date' THEN format('libs.jsonb_date(%s)', s)
            WHEN 'timestamp' THEN format('libs.jsonb_timestamptz(%s)', s)
            WHEN 'array' THEN format('(CASE WHEN jsonb_typeof(%1$s) = ''array'' THEN %1$s END)', s)
            WHEN 'jsonb' THEN s
            WHEN 'geometry' THEN format('public.st_setsrid(public.st_geomfromgeojson(%s), 4326)', s)
        END;
    END IF;
    IF kind = 'jsonb' THEN RETURN libs.cql2_as_jsonb(t); END IF;
    IF k = 'date' AND kind = 'timestamp' THEN RETURN format('((%s)::timestamp AT TIME ZONE ''UTC'')', s); END IF;
    IF k = 'text' AND kind IN ('date', 'timestamp') THEN RETURN format('(%s)::%s', s, libs.cql2_sqltype(kind)); END IF;
    RETURN libs.cql2_error(format('cannot use a %s where a %s is expected', k, kind));
END
$$;
COMMENT ON FUNCTION libs.cql2_as(jsonb, text) IS 'The SQL of a CQL2 term read as the given kind (or a 400).';

-- The kind two compared terms are both read as: the typed side wins over an untyped property.
CREATE OR REPLACE FUNCTION libs.cql2_common_kind(a jsonb, b jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE
        WHEN ka = kb THEN ka
        WHEN ka IN ('jsonb', 'null') THEN CASE WHEN kb = 'null' THEN 'jsonb' ELSE kb END
        WHEN kb IN ('jsonb', 'null') THEN ka
        WHEN ka IN ('date', 'timestamp') AND kb IN ('date', 'timestamp') THEN 'timestamp'
        WHEN ka = 'text' AND kb IN ('date', 'timestamp') THEN kb
        WHEN kb = 'text' AND ka IN ('date', 'timestamp') THEN ka
        ELSE ka END
    FROM (SELECT a ->> 'kind' AS ka, b ->> 'kind' AS kb) k;
$$;


-- An instant term: a date or timestamp (an untyped property is read as a timestamp).
CREATE OR REPLACE FUNCTION libs.cql2_instant(t jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN t ->> 'kind' IN ('date', 'timestamp') THEN t
                ELSE libs.cql2_term_of(libs.cql2_as(t, 'timestamp'), 'timestamp') END;
$$;

-- A column reference, qualified by the caller's table alias when one is given.
CREATE OR REPLACE FUNCTION libs.cql2_column(col text, ctx jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN coalesce(ctx ->> 'alias', '') = '' THEN quote_ident(col)
                ELSE quote_ident(ctx ->> 'alias') || '.' || quote_ident(col) END;
$$;

-- A property name as the filter gives it -> the name inside data.features.properties
-- (or the column it maps to: id, geometry, datetime, end_datetime).
CREATE OR REPLACE FUNCTION libs.cql2_property_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN name LIKE 'properties.%' THEN substr(name, 12) ELSE name END;
$$;

CREATE OR REPLACE FUNCTION libs.cql2_property(name text, ctx jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    p text := libs.cql2_property_name(name);
    kind text := ctx -> 'kinds' ->> p;
    src text := libs.cql2_column('properties', ctx) || '->' || quote_literal(p);
    txt text := libs.cql2_column('properties', ctx) || '->>' || quote_literal(p);
BEGIN
    IF p IN ('geom', 'geometry') AND NOT coalesce(ctx -> 'kinds' ? p, false) THEN
        RETURN libs.cql2_term_of(libs.cql2_column('geom', ctx), 'geometry');
    ELSIF p = 'id' AND NOT coalesce(ctx -> 'kinds' ? p, false) THEN
        RETURN libs.cql2_term_of(libs.cql2_column('id', ctx), 'text');
    ELSIF p IN ('datetime', 'end_datetime') THEN
        RETURN libs.cql2_term_of(libs.cql2_column(p, ctx), 'timestamp');
    END IF;
    RETURN CASE kind
        WHEN 'integer' THEN libs.cql2_term_of(format('(%s)::numeric', txt), 'number')
        WHEN 'number' THEN libs.cql2_term_of(format('(%s)::numeric', txt), 'number')
        WHEN 'string' THEN libs.cql2_term_of(format('(%s)', txt), 'text')
        WHEN 'date' THEN libs.cql2_term_of(format('(%s)::date', txt), 'date')
        WHEN 'date-time' THEN libs.cql2_term_of(format('(%s)::timestamptz', txt), 'timestamp')
        WHEN 'boolean' THEN libs.cql2_term_of(format('(%s)::boolean', txt), 'bool')
        WHEN 'array' THEN libs.cql2_term_of(format('(%s)', src), 'array')
        ELSE libs.cql2_term_of(format('nullif(%s, ''null''::jsonb)', src), 'jsonb')
    END;
END
$$;
COMMENT ON FUNCTION libs.cql2_property(text, jsonb) IS
    'The SQL term for a CQL2 property: a column (id, geometry/geom, datetime, end_datetime) or a typed '
    'extraction from properties, typed by ctx.kinds (property kinds derived from the data) when known.';

-- A literal or a nested expression -> a term.
CREATE OR REPLACE FUNCTION libs.cql2_term(e jsonb, ctx jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    t text := jsonb_typeof(e);
BEGIN
    IF t = 'string' THEN
        RETURN libs.cql2_term_of(quote_literal(e #>> '{}'), 'text');
    ELSIF t = 'number' THEN
        RETURN libs.cql2_term_of(format('(%s)::numeric', quote_literal(e::text)), 'number');
    ELSIF t = 'boolean' THEN
        RETURN libs.cql2_term_of(upper(e::text), 'bool');
    ELSIF t = 'null' THEN
        RETURN libs.cql2_term_of('NULL', 'null');
    ELSIF t = 'array' THEN
        RETURN libs.cql2_array(e, ctx);
    ELSIF e ? 'op' THEN
        RETURN libs.cql2_op(e, ctx);
    ELSIF e ? 'property' THEN
        RETURN libs.cql2_property(e ->> 'property', ctx);
    ELSIF e ? 'timestamp' THEN
        RETURN libs.cql2_term_of(format('%L::timestamptz', e ->> 'timestamp'), 'timestamp');
    ELSIF e ? 'date' THEN
        RETURN libs.cql2_term_of(format('%L::date', e ->> 'date'), 'date');
    ELSIF e ? 'interval' THEN
        RETURN libs.cql2_interval(e -> 'interval', ctx);
    ELSIF e ? 'bbox' THEN
        RETURN libs.cql2_term_of(libs.cql2_bbox_sql(e -> 'bbox'), 'geometry');
    ELSIF e ? 'type' AND (e ? 'coordinates' OR e ? 'geometries') THEN
        RETURN libs.cql2_term_of(format('public.st_setsrid(public.st_geomfromgeojson(%L), 4326)', e::text),
                                 'geometry');
    END IF;
    RETURN libs.cql2_error(format('cannot read %s as a CQL2 expression', left(e::text, 200)));
END
$$;
COMMENT ON FUNCTION libs.cql2_term(jsonb, jsonb) IS
    'Translates one cql2-json expression into a term {"sql", "kind"}; ctx = {"kinds": {...}, "alias": "f"}.';

-- BBOX(minx, miny, maxx, maxy) (or 6 numbers); minx > maxx crosses the antimeridian: two boxes.
CREATE OR REPLACE FUNCTION libs.cql2_bbox_sql(b jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    n int := jsonb_array_length(b);
    x1 float8; y1 float8; x2 float8; y2 float8;
BEGIN
    IF n NOT IN (4, 6) THEN
        PERFORM libs.cql2_error(format('BBOX needs 4 or 6 numbers, got %s', n));
    END IF;
    x1 := (b ->> 0)::float8; y1 := (b ->> 1)::float8;
    x2 := (b ->> (n / 2))::float8; y2 := (b ->> (n / 2 + 1))::float8;
    RETURN libs.bbox_geom_sql(x1, y1, x2, y2);
END
$$;

CREATE OR REPLACE FUNCTION libs.bbox_geom_sql(x1 float8, y1 float8, x2 float8, y2 float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN x1 <= x2 THEN format('public.st_makeenvelope(%s, %s, %s, %s, 4326)', x1, y1, x2, y2)
        ELSE format('public.st_collect(public.st_makeenvelope(%s, %s, 180, %s, 4326), '
                    'public.st_makeenvelope(-180, %s, %s, %s, 4326))', x1, y1, y2, y1, x2, y2) END;
$$;
COMMENT ON FUNCTION libs.bbox_geom_sql(float8, float8, float8, float8) IS
    'SQL for a WGS84 box; a box with minx > maxx crosses the antimeridian and becomes two boxes.';

-- An array literal (of literals or expressions) -> a jsonb array term.
CREATE OR REPLACE FUNCTION libs.cql2_array(e jsonb, ctx jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE
        WHEN NOT jsonb_path_exists(e, 'strict $[*] ? (@.type() == "object" || @.type() == "array")')
            THEN libs.cql2_term_of(format('%L::jsonb', e::text), 'array')
        ELSE libs.cql2_term_of(
            'jsonb_build_array(' || (SELECT string_agg(libs.cql2_as_jsonb(libs.cql2_term(x, ctx)), ', ' ORDER BY i)
                                     FROM jsonb_array_elements(e) WITH ORDINALITY AS a(x, i)) || ')', 'array')
    END;
$$;

-- INTERVAL(a, b): each end a date, a timestamp, '..' (open) or an expression (a property).
CREATE OR REPLACE FUNCTION libs.cql2_interval(e jsonb, ctx jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    ends jsonb[] := ARRAY[]::jsonb[];
    x jsonb;
    kind text := 'date';
BEGIN
    IF jsonb_array_length(e) <> 2 THEN
        PERFORM libs.cql2_error('INTERVAL needs two ends');
    END IF;
    FOR x IN SELECT value FROM jsonb_array_elements(e) LOOP
        IF x = '".."' THEN
            ends := ends || libs.cql2_term_of(NULL, 'open');
        ELSIF jsonb_typeof(x) = 'string' AND (x #>> '{}') ~ '^\d{4}-\d{2}-\d{2}$' THEN
            ends := ends || libs.cql2_term_of(format('%L::date', x #>> '{}'), 'date');
        ELSIF jsonb_typeof(x) = 'string' THEN
            ends := ends || libs.cql2_term_of(format('%L::timestamptz', x #>> '{}'), 'timestamp');
            kind := 'timestamp';
        ELSE
            ends := ends || libs.cql2_instant(libs.cql2_term(x, ctx));
            IF ends[array_length(ends, 1)] ->> 'kind' <> 'date' THEN kind := 'timestamp'; END IF;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('kind', 'interval', 'of', kind,
        'start', coalesce(libs.cql2_as(ends[1], kind), format('%L::%s', '-infinity', libs.cql2_sqltype(kind))),
        'end', coalesce(libs.cql2_as(ends[2], kind), format('%L::%s', 'infinity', libs.cql2_sqltype(kind))));
END
$$;