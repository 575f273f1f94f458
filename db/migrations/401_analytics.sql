-- 401: raster analytics: links to the aggregation endpoints on every cube and hybrid collection,
-- and URI templates of them on the landing page.

INSERT INTO data.collection_links (kind, rel, path, type, title, ord) VALUES
    ('cube', 'aggregate', 'collections/{id}/aggregate/time-series', 'application/json',
     'Time series of layer statistics (GET bbox=, POST intersects)', 60),
    ('cube', 'aggregate', 'collections/{id}/aggregate/summary', 'application/json',
     'Summary statistics and histogram of layers', 61),
    ('hybrid', 'aggregate', 'collections/{id}/aggregate/time-series', 'application/json',
     'Time series of layer statistics (per feature with groupby=feature)', 60),
    ('hybrid', 'aggregate', 'collections/{id}/aggregate/summary', 'application/json',
     'Summary statistics and histogram of layers (per feature with groupby=feature)', 61)
ON CONFLICT DO NOTHING;

INSERT INTO data.landing_links (rel, path, type, title, ord) VALUES
    ('aggregate', 'collections/{collectionId}/aggregate/time-series', 'application/json',
     'Time series of a cube''s layers (URI template)', 60),
    ('aggregate', 'collections/{collectionId}/aggregate/summary', 'application/json',
     'Summary statistics of a cube''s layers (URI template)', 61)
ON CONFLICT DO NOTHING;
