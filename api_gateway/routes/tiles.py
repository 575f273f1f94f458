"""Routes: vector tiles, TileJSON, tile matrix sets (not yet implemented)."""

from typing import Any

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
OPENAPI: dict[str, Any] = {}
