"""Values to pixels: rescale, colormap (one layer) or RGB (three layers), nodata transparent, PNG encode."""

from __future__ import annotations

import io
import zlib
import struct

import numpy as np

from . import colormaps

PNG_LEVEL = 6  # zlib level, the same default as GDAL's PNG driver (titiler)


def scale(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float values -> uint8 0..255 (linear between lo and hi, clipped); NaN -> 0 (masked separately)."""
    factor = 255.0 / (hi - lo) if hi != lo else 0.0
    x = (values - np.float32(lo)) * np.float32(factor)
    np.clip(x, 0, 255, out=x)
    x += 0.5
    x[np.isnan(x)] = 0
    return x.astype(np.uint8)


def colorize(values: np.ndarray, rescale: tuple[float, float], colormap: str) -> np.ndarray:
    """(H, W) float -> (H, W, 4) uint8 RGBA; nodata transparent."""
    rgba = colormaps.lut(colormap)[scale(values, *rescale)]
    rgba[..., 3] = np.where(np.isnan(values), 0, 255)
    return rgba


def compose(stack: np.ndarray, rescales: list[tuple[float, float]]) -> np.ndarray:
    """(3, H, W) float -> (H, W, 4) RGBA; a pixel is transparent when any of its three values is nodata."""
    h, w = stack.shape[1:]
    rgba = np.empty((h, w, 4), np.uint8)
    for i in range(3):
        rgba[..., i] = scale(stack[i], *rescales[i])
    rgba[..., 3] = np.where(np.isnan(stack).any(axis=0), 0, 255)
    return rgba


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(rgba: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """PNG bytes of an (H, W, 4) RGBA image (RGB when fully opaque: smaller and faster to encode)."""
    h, w = rgba.shape[:2]
    opaque = bool(rgba[..., 3].min() == 255)
    pixels = rgba[..., :3] if opaque else rgba
    raw = np.empty((h, 1 + w * pixels.shape[2]), np.uint8)
    raw[:, 0] = 0  # filter type None per row
    raw[:, 1:] = pixels.reshape(h, -1)
    header = struct.pack(">IIBBBBB", w, h, 8, 2 if opaque else 6, 0, 0, 0)
    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(_chunk(b"IHDR", header))
    out.write(_chunk(b"IDAT", zlib.compress(raw.tobytes(), level)))
    out.write(_chunk(b"IEND", b""))
    return out.getvalue()


def empty_png(size: int = 256) -> bytes:
    return png(np.zeros((size, size, 4), np.uint8))
