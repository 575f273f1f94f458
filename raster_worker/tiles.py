"""Raster worker routes: PNG tiles of a cube's layers in WebMercatorQuad, and cube registration.

    GET  /tiles/{collection_id}/{z}/{x}/{y}.png?layers=NDVI&datetime=...&colormap=...&rescale=a,b&expression=...
    POST /cubes/{collection_id}    {"href": "/path/or/url.zarr", "layers": [...], "force": true, ...}

The gateway validates and proxies `/collections/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png` here. A tile is:
the cube (cached, see `layers.cube`) -> the tile's pixel centres mapped to store pixels (nearest) -> values
(a layer, a composite, three layers or an expression) -> rescale + colormap or RGB -> PNG. Values come from
the coarsest overview level whose pixel is not coarser than the tile's (`layers.Cube.for_resolution`), so a
low-zoom tile of a large cube reads a few small chunks; `X-Cube-Level` says which (1 = full resolution). The
chosen time step is reported in `X-Cube-Datetime` and how it was chosen in `X-Cube-Datetime-Match` (exact,
nearest, interval, latest).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import colormaps, expressions, layers, render

HALF = math.pi * 6378137.0
TILE = 256
EMPTY = render.empty_png()


class TileError(ValueError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TileQuery:
    layers: tuple[str, ...] = ()
    expression: str | None = None
    datetime: str | None = None
    colormap: str | None = None
    rescale: tuple[tuple[float, float], ...] = ()
    level: int = render.PNG_LEVEL


def tile_pixels(grid: layers.Grid, z: int, x: int, y: int, size: int = TILE
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """Store (rows, cols) sampled by each tile row / column (nearest pixel centre), -1 outside; None if no overlap."""
    span = 2 * HALF / 2 ** z
    res = span / size
    centres = (np.arange(size) + 0.5) * res
    cols = np.floor((-HALF + x * span + centres - grid.x0) / grid.dx + 0.5).astype(np.int64)
    rows = np.floor((HALF - y * span - centres - grid.y0) / grid.dy + 0.5).astype(np.int64)
    cols[(cols < 0) | (cols >= grid.width)] = -1
    rows[(rows < 0) | (rows >= grid.height)] = -1
    if (cols < 0).all() or (rows < 0).all():
        return None
    return rows, cols


def sample(read: Callable[[slice, slice], np.ndarray], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values at the sampled pixels: read one window covering them, then pick (NaN outside the store)."""
    ri, ci = np.nonzero(rows >= 0)[0], np.nonzero(cols >= 0)[0]
    r, c = rows[ri[0]:ri[-1] + 1], cols[ci[0]:ci[-1] + 1]
    r0, c0 = int(r.min()), int(c.min())
    window = read(slice(r0, int(r.max()) + 1), slice(c0, int(c.max()) + 1))
    picked = window[..., r[:, None] - r0, c[None, :] - c0]
    out = np.full((*window.shape[:-2], len(rows), len(cols)), np.nan, np.float32)
    out[..., ri[0]:ri[-1] + 1, ci[0]:ci[-1] + 1] = picked
    return out


def default_layer(cube: layers.Cube) -> str:
    """The layer drawn when none is asked: the first index, else composite, else band (the same as TileJSON)."""
    for kind in ("index", "composite", "band", "mask"):
        for name, layer in cube.layers.items():
            if layer["kind"] == kind:
                return name
    raise TileError(f"collection {cube.collection_id} has no layers", 404)


def render_tile(cube: layers.Cube, q: TileQuery, z: int, x: int, y: int) -> tuple[bytes, layers.TimeChoice]:
    """PNG bytes of one tile, and the time step used."""
    found = tile_pixels(cube.grid, z, x, y)
    if found is None:
        when = cube.time_index(q.datetime)
        _names(cube, q)
        return EMPTY, when
    return render_pixels(cube, q, *found)


def _names(cube: layers.Cube, q: TileQuery) -> tuple[str, ...]:
    """The layers drawn (none for an expression, which is checked); unknown names raise."""
    if q.expression:
        expressions.parse(q.expression)
        return ()
    names = q.layers or (default_layer(cube),)
    for n in names:
        cube.layer(n)
    return names


def render_pixels(cube: layers.Cube, q: TileQuery, rows: np.ndarray, cols: np.ndarray
                  ) -> tuple[bytes, layers.TimeChoice]:
    """PNG bytes of the image whose pixels sample store rows x cols (-1: outside), and the time step used: tiles,
    and maps of a whole cube (`maps.py`)."""
    when = cube.time_index(q.datetime)
    names = _names(cube, q)
    if (rows < 0).all() or (cols < 0).all():
        return render.png(np.zeros((len(rows), len(cols), 4), np.uint8)), when
    if q.expression:
        values = sample(lambda r, c: cube.read_expression(q.expression or "", when.index, r, c), rows, cols)
        return render.png(render.colorize(values, q.rescale[0] if q.rescale else _auto(values),
                                          q.colormap or "viridis"), q.level), when
    if len(names) == 1 and cube.layer(names[0])["kind"] != "composite":
        layer = cube.layer(names[0])
        values = sample(lambda r, c: cube.read(layer["name"], when.index, r, c), rows, cols)
        rescale = q.rescale[0] if q.rescale else tuple(layer.get("rescale") or _auto(values))
        return render.png(render.colorize(values, rescale, q.colormap or layer.get("colormap") or "viridis"),
                          q.level), when
    return _rgb(cube, q, names, when, rows, cols), when


def _rgb(cube: layers.Cube, q: TileQuery, names: tuple[str, ...], when: layers.TimeChoice,
         rows: np.ndarray, cols: np.ndarray) -> bytes:
    if len(names) == 1:
        composite = cube.layer(names[0])
        bands, default = tuple(composite["bands"]), tuple(composite.get("rescale") or (0.0, 1.0))
    elif len(names) == 3:
        bands, default = names, None
    else:
        raise TileError(f"layers takes one layer or three (red, green, blue), got {len(names)}")
    for b in bands:
        if cube.layer(b)["kind"] == "composite":
            raise TileError(f"{b} is a composite; RGB takes three single layers")
    stack = sample(lambda r, c: np.stack([cube.read(b, when.index, r, c) for b in bands]), rows, cols)
    if len(q.rescale) in (1, 3):
        rescales = [q.rescale[i if len(q.rescale) == 3 else 0] for i in range(3)]
    elif default is not None:
        rescales = [default] * 3
    else:
        rescales = [tuple(cube.layer(b).get("rescale") or _auto(stack[i])) for i, b in enumerate(bands)]
    return render.png(render.compose(stack, rescales), q.level)


def _auto(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(finite, [2, 98])
    return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)


def parse_query(params: Any) -> TileQuery:
    """The worker trusts the gateway's validation but still refuses malformed values with a 400."""
    names = tuple(s.strip() for s in (params.get("layers") or "").split(",") if s.strip())
    rescale: list[tuple[float, float]] = []
    for part in params.getlist("rescale") if hasattr(params, "getlist") else [params.get("rescale")]:
        if part:
            try:
                lo, hi = (float(v) for v in part.split(","))
            except ValueError:
                raise TileError(f"rescale must be min,max numbers, got {part!r}") from None
            rescale.append((lo, hi))
    colormap = params.get("colormap") or None
    if colormap:
        colormaps.check(colormap)
    level = int(params.get("compress", render.PNG_LEVEL))
    return TileQuery(names, params.get("expression") or None, params.get("datetime") or None, colormap,
                     tuple(rescale), max(0, min(9, level)))


def error(status: int, description: str) -> JSONResponse:
    codes = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 401: "Unauthorized"}
    return JSONResponse({"code": codes.get(status, "Error"), "description": description}, status_code=status)


def tile_response(collection_id: str, z: int, x: int, y: int, params: Any) -> Response:
    try:
        q = parse_query(params)
        cube = layers.cube(collection_id).for_resolution(2 * HALF / 2 ** z / TILE)
        body, when = render_tile(cube, q, z, x, y)
    except (TileError, layers.LayerError) as e:
        return error(e.status, str(e))
    except (expressions.ExpressionError, colormaps.ColormapError) as e:
        return error(400, str(e))
    except psycopg.Error as e:
        if e.sqlstate == "P0002":
            return error(404, e.diag.message_primary or str(e))
        raise
    headers = {"X-Cube-Datetime": when.datetime, "X-Cube-Datetime-Match": when.match,
               "X-Cube-Version": cube.version, "X-Cube-Level": str(cube.level)}
    return Response(body, media_type="image/png", headers=headers)


async def tile(request: Request) -> Response:
    p = request.path_params
    y = p["y"].removesuffix(".png")
    try:
        z, x, yy = int(p["z"]), int(p["x"]), int(y)
    except ValueError:
        return error(400, "z, x and y must be integers")
    return await run_in_threadpool(tile_response, p["collection_id"], z, x, yy, request.query_params)


routes: list[BaseRoute] = [
    Route("/tiles/{collection_id}/{z}/{x}/{y}", tile, methods=["GET"]),
]


def _upload_routes() -> list[BaseRoute]:
    from . import uploads

    return uploads.routes


routes += _upload_routes()
