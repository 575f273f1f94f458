-- 450: the landing page links only to URLs. 401 put URI templates there
-- (collections/{collectionId}/aggregate/...), which are not URIs: the STAC API documents declare every link
-- href `format: uri`, so validators reject the landing page. Each cube and hybrid collection already links
-- its own aggregation endpoints (data.collection_links), and the OpenAPI document lists the templates.

DELETE FROM data.landing_links WHERE path LIKE '%{%' OR path LIKE '%}%';
