"""Raster worker routes: tiles (not yet implemented)."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
