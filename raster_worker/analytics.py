"""Raster worker routes: analytics (not yet implemented)."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
