"""Route modules. Each exposes `routes` (Starlette routes) and `OPENAPI` (its OpenAPI path items).

The same routes are served at `/` (the legacy surface) and under `/api/v2/`.
Order matters only where paths overlap: more specific modules come first
(raster PNG tiles before vector tiles, both before the generic collection/item routes).
"""

from . import analytics, core, cube_store, features, raster, stac, tiles, viewer

MODULES = [core, viewer, analytics, raster, cube_store, tiles, features, stac]
