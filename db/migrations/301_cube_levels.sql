-- 301: DataCube overviews: the multiscale levels written in the served store at upload (see
-- raster_worker/overviews.py), e.g. [{"factor": 2, "group": "overviews/2", "shape": [t, h, w], "step": [dx, dy]}].
-- Cubes uploaded before this have none and are served from full resolution.
ALTER TABLE data.cubes ADD COLUMN IF NOT EXISTS levels jsonb NOT NULL DEFAULT '[]';
