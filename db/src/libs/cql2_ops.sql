-- CQL2 operators and functions -> SQL, and the entry point libs.cql2_to_sql.
-- Conformance classes covered: basic CQL2, advanced comparison (LIKE, BETWEEN, IN), case- and
-- accent-insensitive comparison (CASEI, ACCENTI), basic spatial and spatial functions (S_*, WKT, BBOX),
-- temporal functions (T_*), array functions (A_*), property-property comparisons and arithmetic.

CREATE OR REPLACE FUNCTION libs.cql2_args(e jsonb, ctx jsonb) RETURNS jsonb[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT coalesce(array_agg(libs.cql2_term(a, ctx) ORDER BY i), ARRAY[]::jsonb[])
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e -> 'args') = 'array' THEN e -> 'args' ELSE '[]' END)
         WITH ORDINALITY AS x(a, i);
$$;

CREATE OR REPLACE FUNCTION libs.cql2_nargs(op text, args jsonb[], n int) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF coalesce(array_length(args, 1), 0) <> n THEN
        PERFORM libs.cql2_error(format('%s takes %s argument(s), got %s', upper(op), n,
                                       coalesce(array_length(args, 1), 0)));
    END IF;
END
$$;

-- The boolean SQL of a term used as a predicate.
CREATE OR REPLACE FUNCTION libs.cql2_bool(t jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.cql2_as(t, 'bool');
$$;

-- a <op> b for =, <>, <, >, <=, >= and LIKE, both sides read as one kind.
CREATE OR REPLACE FUNCTION libs.cql2_compare(op text, a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    kind text := CASE WHEN op = 'like' THEN 'text' ELSE libs.cql2_common_kind(a, b) END;
    sqlop text := CASE op WHEN 'like' THEN 'LIKE' ELSE op END;
    coll text := CASE WHEN kind = 'text' THEN ' COLLATE "C"' ELSE '' END;
BEGIN
    IF kind IN ('geometry', 'interval') THEN
        PERFORM libs.cql2_error(format('%s cannot compare %s values; use the S_ or T_ functions', op, kind));
    END IF;
    RETURN libs.cql2_term_of(format('(%s%s %s %s%s)', libs.cql2_as(a, kind), coll, sqlop,
                                    libs.cql2_as(b, kind), coll), 'bool');
END
$$;

CREATE OR REPLACE FUNCTION libs.cql2_arith(op text, a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.cql2_term_of(CASE op
        WHEN 'div' THEN format('div(%s, %s)', x, y)
        WHEN '%' THEN format('mod(%s, %s)', x, y)
        WHEN '^' THEN format('power(%s, %s)', x, y)
        ELSE format('(%s %s %s)', x, op, y) END, 'number')
    FROM (SELECT libs.cql2_as(a, 'number') AS x, libs.cql2_as(b, 'number') AS y) s;
$$;

CREATE OR REPLACE FUNCTION libs.cql2_in(needle jsonb, list jsonb, ctx jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    a jsonb := libs.cql2_term(needle, ctx);
    items jsonb[];
    kind text;
BEGIN
    IF jsonb_typeof(list) <> 'array' OR jsonb_array_length(list) = 0 THEN
        PERFORM libs.cql2_error('IN needs a non-empty list');
    END IF;
    SELECT array_agg(libs.cql2_term(x, ctx) ORDER BY i) INTO items FROM jsonb_array_elements(list) WITH ORDINALITY l(x, i);
    kind := libs.cql2_common_kind(a, items[1]);
    RETURN libs.cql2_term_of(format('(%s IN (%s))', libs.cql2_as(a, kind),
        (SELECT string_agg(libs.cql2_as(x, kind), ', ') FROM unnest(items) x)), 'bool');
END
$$;

CREATE OR REPLACE FUNCTION libs.cql2_spatial(op text, a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.cql2_term_of(format('public.%s(%s, %s)', fn, libs.cql2_as(a, 'geometry'), libs.cql2_as(b, 'geometry')),
                             'bool')
    FROM (SELECT CASE op WHEN 's_intersects' THEN 'st_intersects' WHEN 's_equals' THEN 'st_equals'
        WHEN 's_disjoint' THEN 'st_disjoint' WHEN 's_touches' THEN 'st_touches' WHEN 's_within' THEN 'st_within'
        WHEN 's_overlaps' THEN 'st_overlaps' WHEN 's_crosses' THEN 'st_crosses' WHEN 's_contains' THEN 'st_contains'
        END AS fn) f;
$$;

-- A term as an interval {start, end, of}: an instant t is the interval [t, t].
CREATE OR REPLACE FUNCTION libs.cql2_as_interval(t jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN t ->> 'kind' = 'interval' THEN t
        ELSE (SELECT jsonb_build_object('kind', 'interval', 'of', i ->> 'kind', 'start', i ->> 'sql', 'end', i ->> 'sql')
              FROM libs.cql2_instant(t) i) END;
$$;

-- Allen's interval relations (T_*), on [s1, e1] and [s2, e2].
CREATE OR REPLACE FUNCTION libs.cql2_temporal(op text, a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    x jsonb := libs.cql2_as_interval(a);
    y jsonb := libs.cql2_as_interval(b);
    kind text := CASE WHEN x ->> 'of' = 'date' AND y ->> 'of' = 'date' THEN 'date' ELSE 'timestamp' END;
    s1 text := libs.cql2_as(libs.cql2_term_of(x ->> 'start', x ->> 'of'), kind);
    e1 text := libs.cql2_as(libs.cql2_term_of(x ->> 'end', x ->> 'of'), kind);
    s2 text := libs.cql2_as(libs.cql2_term_of(y ->> 'start', y ->> 'of'), kind);
    e2 text := libs.cql2_as(libs.cql2_term_of(y ->> 'end', y ->> 'of'), kind);
    tmpl text;
BEGIN
    tmpl := CASE op
        WHEN 't_after' THEN '%1$s > %4$s'
        WHEN 't_before' THEN '%2$s < %3$s'
        WHEN 't_contains' THEN '%1$s < %3$s AND %2$s > %4$s'
        WHEN 't_disjoint' THEN '(%2$s < %3$s OR %1$s > %4$s)'
        WHEN 't_during' THEN '%1$s > %3$s AND %2$s < %4$s'
        WHEN 't_equals' THEN '%1$s = %3$s AND %2$s = %4$s'
        WHEN 't_finishedby' THEN '%1$s < %3$s AND %2$s = %4$s'
        WHEN 't_finishes' THEN '%1$s > %3$s AND %2$s = %4$s'
        WHEN 't_intersects' THEN '%1$s <= %4$s AND %2$s >= %3$s'
        WHEN 't_meets' THEN '%2$s = %3$s'
        WHEN 't_metby' THEN '%1$s = %4$s'
        WHEN 't_overlappedby' THEN '%1$s > %3$s AND %1$s < %4$s AND %2$s > %4$s'
        WHEN 't_overlaps' THEN '%1$s < %3$s AND %2$s > %3$s AND %2$s < %4$s'
        WHEN 't_startedby' THEN '%1$s = %3$s AND %2$s > %4$s'
        WHEN 't_starts' THEN '%1$s = %3$s AND %2$s < %4$s'
    END;
    RETURN libs.cql2_term_of('(' || format(tmpl, s1, e1, s2, e2) || ')', 'bool');
END
$$;

CREATE OR REPLACE FUNCTION libs.cql2_arrays(op text, a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT libs.cql2_term_of(CASE op
        WHEN 'a_equals' THEN format('(%s = %s)', x, y)
        WHEN 'a_contains' THEN format('(%s @> %s)', x, y)
        WHEN 'a_containedby' THEN format('(%s <@ %s)', x, y)
        WHEN 'a_overlaps' THEN format('EXISTS (SELECT 1 FROM jsonb_array_elements(%s) AS e(v) '
                                      'WHERE %s @> jsonb_build_array(e.v))', x, y)
        END, 'bool')
    FROM (SELECT libs.cql2_as(a, 'array') AS x, libs.cql2_as(b, 'array') AS y) s;
$$;

-- One {"op": ..., "args": [...]} node.
CREATE OR REPLACE FUNCTION libs.cql2_op(e jsonb, ctx jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    op text := lower(e ->> 'op');
    args jsonb[];
BEGIN
    IF op = 'in' THEN
        RETURN libs.cql2_in(e -> 'args' -> 0, e -> 'args' -> 1, ctx);
    ELSIF op = 'envelope' THEN  -- cql2-text ENVELOPE(...) as the parser hands it over: a BBOX, as on STAC items
        RETURN libs.cql2_term(jsonb_build_object('bbox', e -> 'args'), ctx);
    END IF;
    args := libs.cql2_args(e, ctx);
    IF op IN ('and', 'or') THEN
        IF coalesce(array_length(args, 1), 0) < 2 THEN
            PERFORM libs.cql2_error(format('%s needs at least two arguments', upper(op)));
        END IF;
        RETURN libs.cql2_term_of('(' || (SELECT string_agg(libs.cql2_bool(a), ' ' || upper(op) || ' ') FROM unnest(args) a)
                                 || ')', 'bool');
    ELSIF op = 'not' THEN
        PERFORM libs.cql2_nargs(op, args, 1);
        RETURN libs.cql2_term_of(format('(NOT %s)', libs.cql2_bool(args[1])), 'bool');
    ELSIF op IN ('=', '<>', '<', '>', '<=', '>=', 'like') THEN
        PERFORM libs.cql2_nargs(op, args, 2);
        RETURN libs.cql2_compare(op, args[1], args[2]);
    ELSIF op = 'between' THEN
        PERFORM libs.cql2_nargs(op, args, 3);
        RETURN libs.cql2_term_of(format('(%s BETWEEN %s AND %s)', libs.cql2_as(args[1], 'number'),
                                        libs.cql2_as(args[2], 'number'), libs.cql2_as(args[3], 'number')), 'bool');
    ELSIF op = 'isnull' THEN
        PERFORM libs.cql2_nargs(op, args, 1);
        RETURN libs.cql2_term_of(format('(%s IS NULL)', coalesce(args[1] ->> 'sql', args[1] ->> 'start')), 'bool');
    ELSIF op IN ('casei', 'accenti') THEN
        PERFORM libs.cql2_nargs(op, args, 1);
        RETURN libs.cql2_term_of(format(CASE op WHEN 'casei' THEN 'lower(%s)' ELSE 'public.unaccent(%s)' END,
                                        libs.cql2_as(args[1], 'text')), 'text');
    ELSIF op IN ('+', '-', '*', '/', '%', 'div', '^') THEN
        PERFORM libs.cql2_nargs(op, args, 2);
        RETURN libs.cql2_arith(op, args[1], args[2]);
    ELSIF op IN ('s_intersects', 's_equals', 's_disjoint', 's_touches', 's_within', 's_overlaps', 's_crosses',
                 's_contains') THEN
        PERFORM libs.cql2_nargs(op, args, 2);
        RETURN libs.cql2_spatial(op, args[1], args[2]);
    ELSIF op IN ('t_after', 't_before', 't_contains', 't_disjoint', 't_during', 't_equals', 't_finishedby',
                 't_finishes', 't_intersects', 't_meets', 't_metby', 't_overlappedby', 't_overlaps',
                 't_startedby', 't_starts') THEN
        PERFORM libs.cql2_nargs(op, args, 2);
        RETURN libs.cql2_temporal(op, args[1], args[2]);
    ELSIF op IN ('a_equals', 'a_contains', 'a_containedby', 'a_overlaps') THEN
        PERFORM libs.cql2_nargs(op, args, 2);
        RETURN libs.cql2_arrays(op, args[1], args[2]);
    END IF;
    RETURN libs.cql2_error(format('unknown function or operator %s', e ->> 'op'),
        'supported: AND OR NOT = <> < > <= >= LIKE BETWEEN IN IS NULL CASEI ACCENTI + - * / % div ^ S_* T_* A_*');
END
$$;
COMMENT ON FUNCTION libs.cql2_op(jsonb, jsonb) IS 'Translates one cql2-json operator node into a term.';

-- The property names a filter uses (as given, e.g. 'properties.crop' or 'crop').
CREATE OR REPLACE FUNCTION libs.cql2_properties(filter jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT coalesce(array_agg(DISTINCT p #>> '{}'), ARRAY[]::text[])
    FROM jsonb_path_query(coalesce(filter, 'null'), 'strict $.**.property') p;
$$;

-- Raises a 400 naming the properties a collection does not have (its queryables).
CREATE OR REPLACE FUNCTION libs.features_check_properties(names text[], kinds jsonb, what text DEFAULT 'filter')
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    unknown text[];
BEGIN
    SELECT array_agg(n ORDER BY n) INTO unknown FROM unnest(names) n
    WHERE libs.cql2_property_name(n) NOT IN ('id', 'geom', 'geometry', 'datetime', 'end_datetime')
      AND NOT kinds ? libs.cql2_property_name(n);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION '%: unknown propert%: %', what, CASE WHEN cardinality(unknown) = 1 THEN 'y' ELSE 'ies' END,
            array_to_string(unknown, ', ')
            USING ERRCODE = '22023', HINT = format('the queryables are: %s',
                (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(kinds) k));
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION libs.cql2_to_sql(filter jsonb, collection_id text DEFAULT NULL, alias text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    kinds jsonb;
BEGIN
    IF filter IS NULL OR filter = '{}'::jsonb OR filter = 'null'::jsonb THEN
        RETURN 'TRUE';
    END IF;
    IF collection_id IS NOT NULL THEN
        SELECT fc.property_kinds INTO kinds FROM data.feature_collections fc WHERE fc.collection_id = cql2_to_sql.collection_id;
        PERFORM libs.features_check_properties(libs.cql2_properties(filter), coalesce(kinds, '{}'));
    END IF;
    RETURN libs.cql2_bool(libs.cql2_term(filter, jsonb_build_object('kinds', kinds, 'alias', alias)));
END
$$;
COMMENT ON FUNCTION libs.cql2_to_sql(jsonb, text, text) IS
    'libs.cql2_to_sql(filter jsonb, collection_id text DEFAULT NULL, alias text DEFAULT NULL) -> text: '
    'a SQL boolean expression for a cql2-json filter over data.features columns (geom, datetime, end_datetime, '
    'id, properties). With collection_id, properties are typed from the collection''s data and unknown ones '
    'raise 22023 naming them; without, every property is read from jsonb by the type of what it is compared to. '
    'alias qualifies the columns (e.g. ''f'' -> f.geom). Identifiers and literals are quoted in SQL; the result '
    'calls PostGIS and unaccent schema-qualified (public.st_*). Errors: 22023 with a message naming the problem. '
    'Example: SELECT count(*) FROM data.features WHERE <libs.features_collection_sql(''x'')> AND '
    '<libs.cql2_to_sql(''{"op":"=","args":[{"property":"crop"},"wheat"]}'', ''x'')> (via EXECUTE).';
