"""Named colormaps as 256-entry RGBA lookup tables (built from evenly spaced colour stops, no matplotlib).

``lut(name) -> np.ndarray`` (256, 4) uint8; a name ending in ``_r`` is the reversed map. `NAMES` lists them
(kept in step with `libs.cube_colormaps()` in SQL, which capabilities report).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

STOPS: dict[str, tuple[str, ...]] = {
    "viridis": ("440154", "482878", "3e4989", "31688e", "26828e", "1f9e89", "35b779", "6ece58", "b5de2b",
                "fde725"),
    "magma": ("000004", "180f3d", "440f76", "721f81", "9e2f7f", "cd4071", "f1605d", "fd9668", "feca8d", "fcfdbf"),
    "inferno": ("000004", "1b0c41", "4a0c6b", "781c6d", "a52c60", "cf4446", "ed6925", "fb9b06", "f7d13d",
                "fcffa4"),
    "plasma": ("0d0887", "46039f", "7201a8", "9c179e", "bd3786", "d8576b", "ed7953", "fb9f3a", "fdca26", "f0f921"),
    "cividis": ("00224e", "123570", "3b496c", "575d6d", "707173", "8a8678", "a59c74", "c3b369", "e1cc55",
                "fee838"),
    "turbo": ("30123b", "4145ab", "4675ed", "39a2fc", "1bcfd4", "24eca6", "61fc6c", "a4fc3b", "d1e834", "f3c63a",
              "fe9b2d", "f36315", "d93806", "b11901", "7a0402"),
    "gray": ("000000", "ffffff"),
    "greys": ("ffffff", "000000"),
    "rdylgn": ("a50026", "d73027", "f46d43", "fdae61", "fee08b", "ffffbf", "d9ef8b", "a6d96a", "66bd63", "1a9850",
               "006837"),
    "rdbu": ("67001f", "b2182b", "d6604d", "f4a582", "fddbc7", "f7f7f7", "d1e5f0", "92c5de", "4393c3", "2166ac",
             "053061"),
    "spectral": ("9e0142", "d53e4f", "f46d43", "fdae61", "fee08b", "ffffbf", "e6f598", "abdda4", "66c2a5",
                 "3288bd", "5e4fa2"),
    "ylgn": ("ffffe5", "f7fcb9", "d9f0a3", "addd8e", "78c679", "41ab5d", "238443", "006837", "004529"),
    "greens": ("f7fcf5", "e5f5e0", "c7e9c0", "a1d99b", "74c476", "41ab5d", "238b45", "006d2c", "00441b"),
    "blues": ("f7fbff", "deebf7", "c6dbef", "9ecae1", "6baed6", "4292c6", "2171b5", "08519c", "08306b"),
    "reds": ("fff5f0", "fee0d2", "fcbba1", "fc9272", "fb6a4a", "ef3b2c", "cb181d", "a50f15", "67000d"),
    "ylorrd": ("ffffcc", "ffeda0", "fed976", "feb24c", "fd8d3c", "fc4e2a", "e31a1c", "bd0026", "800026"),
    "brbg": ("543005", "8c510a", "bf812d", "dfc27d", "f6e8c3", "f5f5f5", "c7eae5", "80cdc1", "35978f", "01665e",
             "003c30"),
}
NAMES = tuple(sorted(STOPS))


class ColormapError(ValueError):
    pass


def check(name: str) -> str:
    base = name.lower().removesuffix("_r")
    if base not in STOPS:
        raise ColormapError(f"unknown colormap {name!r}; colormaps: {', '.join(NAMES)} (add _r to reverse)")
    return name.lower()


@lru_cache(maxsize=64)
def lut(name: str) -> np.ndarray:
    """(256, 4) uint8 RGBA table, opaque."""
    name = check(name)
    stops = np.array([[int(h[i:i + 2], 16) for i in (0, 2, 4)] for h in STOPS[name.removesuffix("_r")]], float)
    pos = np.linspace(0, 1, len(stops))
    x = np.linspace(0, 1, 256)
    table = np.empty((256, 4), np.uint8)
    for c in range(3):
        table[:, c] = np.round(np.interp(x, pos, stops[:, c]))
    table[:, 3] = 255
    return table[::-1].copy() if name.endswith("_r") else table
