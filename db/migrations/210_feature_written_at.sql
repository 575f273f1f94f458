-- 210: when each feature was last written, so that a feature without a time of its own can still be a
-- valid STAC Item (datetime null, start_datetime = end_datetime = written_at; see README "Feature collections").
-- A constant-per-statement default: no table rewrite; rows already stored get the time of this migration.
-- UPDATEs keep it current through the trigger features_touch_written_at (db/src/api/features_stac.sql).
ALTER TABLE data.features ADD COLUMN IF NOT EXISTS written_at timestamptz NOT NULL DEFAULT now();
