-- 235: property kinds recorded before libs.jsonb_kind read numbers by how they are written (db/src/libs/cql2.sql):
-- a property holding only integral values was 'integer' even when written 1.5e300, 2.0 or -0.0. Such properties
-- become 'number' when any of their values has a fraction or lies beyond the 64-bit integer range; integer
-- properties whose values are all plain integers stay as they are. Only 'integer' kinds are looked at.
UPDATE data.feature_collections fc
SET property_kinds = fc.property_kinds || coalesce((
        SELECT jsonb_object_agg(k.key, 'number')
        FROM jsonb_each_text(fc.property_kinds) k
        WHERE k.value = 'integer'
          AND EXISTS (SELECT 1 FROM data.features f
                      WHERE f.collection_id = fc.collection_id
                        AND jsonb_typeof(f.properties -> k.key) = 'number'
                        AND (scale((f.properties -> k.key)::numeric) > 0
                             OR (f.properties -> k.key)::numeric NOT BETWEEN -9223372036854775808 AND 9223372036854775807))), '{}')
WHERE fc.property_kinds @? '$.* ? (@ == "integer")';
