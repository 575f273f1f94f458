"""Raster worker route: a PNG map of a cube's whole extent, e.g. the thumbnail of a time slice.

    GET /maps/{collection_id}.png?width=&height=&layers=&datetime=&colormap=&rescale=&expression=

The gateway validates and proxies `/collections/{id}/map` here (an OGC API Maps-like map of the collection).
The image covers the cube's extent in EPSG:3857 (north up); its longest side is MAX_SIZE px unless `width`
and/or `height` say otherwise (one of them alone keeps the extent's aspect ratio). Values come from the
coarsest overview level whose pixel is not coarser than the map's, and are rendered as tiles are
(`tiles.render_pixels`: the same layers, composites, expressions, colormaps, rescale and time choice).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import colormaps, expressions, layers, tiles

MAX_SIZE = 512
LIMIT = 2048


def map_size(grid: layers.Grid, width: int | None, height: int | None) -> tuple[int, int]:
    """(width, height) in pixels: as asked, or from the extent's aspect ratio (longest side MAX_SIZE)."""
    span_x, span_y = grid.width * abs(grid.dx), grid.height * abs(grid.dy)
    if width is None and height is None:
        scale = MAX_SIZE / max(span_x, span_y)
        return max(1, round(span_x * scale)), max(1, round(span_y * scale))
    if width is None:
        return max(1, round((height or 1) * span_x / span_y)), height or 1
    if height is None:
        return width, max(1, round(width * span_y / span_x))
    return width, height


def map_pixels(full: layers.Grid, view: layers.Grid, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of `view` (the level read) under the centres of the map's pixels over `full`'s extent."""
    x0, y0 = full.x0 - full.dx / 2, full.y0 - full.dy / 2
    xs = x0 + (np.arange(width) + 0.5) * (full.width * full.dx / width)
    ys = y0 + (np.arange(height) + 0.5) * (full.height * full.dy / height)
    cols = np.floor((xs - view.x0) / view.dx + 0.5).astype(np.int64)
    rows = np.floor((ys - view.y0) / view.dy + 0.5).astype(np.int64)
    cols[(cols < 0) | (cols >= view.width)] = -1
    rows[(rows < 0) | (rows >= view.height)] = -1
    return rows, cols


def size_param(params: Any, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit() or not 1 <= int(value) <= LIMIT:
        raise tiles.TileError(f"{name} must be an integer from 1 to {LIMIT}, got {value!r}")
    return int(value)


def map_response(collection_id: str, params: Any) -> Response:
    try:
        q = tiles.parse_query(params)
        full = layers.cube(collection_id)
        width, height = map_size(full.grid, size_param(params, "width"), size_param(params, "height"))
        cube = full.for_resolution(min(full.grid.width * abs(full.grid.dx) / width,
                                       full.grid.height * abs(full.grid.dy) / height))
        rows, cols = map_pixels(full.grid, cube.grid, width, height)
        body, when = tiles.render_pixels(cube, q, rows, cols)
    except (tiles.TileError, layers.LayerError) as e:
        return tiles.error(e.status, str(e))
    except (expressions.ExpressionError, colormaps.ColormapError) as e:
        return tiles.error(400, str(e))
    except psycopg.Error as e:
        if e.sqlstate == "P0002":
            return tiles.error(404, e.diag.message_primary or str(e))
        raise
    return Response(body, media_type="image/png", headers={
        "X-Cube-Datetime": when.datetime, "X-Cube-Datetime-Match": when.match, "X-Cube-Version": cube.version,
        "X-Cube-Level": str(cube.level)})


async def map_png(request: Request) -> Response:
    cid = request.path_params["collection_id"].removesuffix(".png")
    return await run_in_threadpool(map_response, cid, request.query_params)


routes: list[BaseRoute] = [Route("/maps/{collection_id}", map_png, methods=["GET"])]
