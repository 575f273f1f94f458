"""Sentinel-2 band names, and the indices and composites derived from them at upload.

Bands are recognised by id (B02, b2, B8A ...) or STAC eo common name (blue, green, red, rededge, nir, swir16,
swir22 ...) and stored under their id, so expressions and composites read the same names for every cube.
"""

from __future__ import annotations

import re
from typing import Any

BANDS: dict[str, str] = {  # id: common name
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1", "B06": "rededge2",
    "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09", "B10": "cirrus", "B11": "swir16",
    "B12": "swir22",
}
COMMON: dict[str, str] = {name: band for band, name in BANDS.items()} | {"rededge": "B05", "nir08": "B8A"}

# name: (expression over reflectance, needed bands, rescale, colormap, description)
INDICES: dict[str, tuple[str, tuple[str, ...], list[float], str, str]] = {
    "NDVI": ("(B08 - B04) / (B08 + B04)", ("B08", "B04"), [0.0, 1.0], "rdylgn",
             "Normalized Difference Vegetation Index"),
    "NDMI": ("(B08 - B11) / (B08 + B11)", ("B08", "B11"), [-1.0, 1.0], "rdbu",
             "Normalized Difference Moisture Index"),
    "NDRE": ("(B08 - B05) / (B08 + B05)", ("B08", "B05"), [0.0, 0.6], "rdylgn",
             "Normalized Difference Red Edge index"),
    "GNDVI": ("(B08 - B03) / (B08 + B03)", ("B08", "B03"), [0.0, 1.0], "rdylgn",
              "Green Normalized Difference Vegetation Index"),
    "EVI": ("2.5 * (B08 - B04) / (B08 + 6 * B04 - 7.5 * B02 + {L})", ("B08", "B04", "B02"), [0.0, 1.0],
            "rdylgn", "Enhanced Vegetation Index"),
}

# name: (bands r, g, b, description)
COMPOSITES: dict[str, tuple[tuple[str, str, str], str]] = {
    "RGB": (("B04", "B03", "B02"), "True colour"),
    "CIR": (("B08", "B04", "B03"), "Colour infrared (vegetation in red)"),
    "AGRICULTURE": (("B11", "B08", "B02"), "Agriculture (crops in bright green)"),
    "SWIR": (("B12", "B8A", "B04"), "Short-wave infrared"),
}


def band_id(name: str) -> str | None:
    """'B4', 'b04', 'B8A', 'red', 'nir' -> the canonical id ('B04', 'B8A'); None if not a Sentinel-2 band."""
    text = name.strip()
    if text.lower() in COMMON:
        return COMMON[text.lower()]
    m = re.fullmatch(r"[Bb]0?(\d{1,2}|8[Aa])", text)
    if not m:
        return None
    digits = m.group(1).upper()
    out = "B8A" if digits == "8A" else f"B{int(digits):02d}"
    return out if out in BANDS else None


def derived_layers(bands: set[str], reflectance: bool) -> list[dict[str, Any]]:
    """Index and composite layer definitions the present bands allow.

    `reflectance`: True when band values are surface reflectance (0..1); False for digital numbers
    (0..10000), which changes EVI's constant and the composites' stretch.
    """
    out: list[dict[str, Any]] = []
    for name, (expr, needed, rescale, cmap, desc) in INDICES.items():
        if set(needed) <= bands:
            out.append({"name": name, "kind": "index", "variable": name, "units": "1",
                        "expression": expr.format(L="1" if reflectance else "10000"),
                        "rescale": rescale, "colormap": cmap, "description": desc})
    for name, (rgb, desc) in COMPOSITES.items():
        if set(rgb) <= bands:
            top = (0.3 if name == "RGB" else 0.5) * (1 if reflectance else 10000)
            out.append({"name": name, "kind": "composite", "bands": list(rgb), "rescale": [0.0, top],
                        "description": f"{desc}: {', '.join(rgb)}"})
    return out
