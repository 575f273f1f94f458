"""The naming and time rules of GeoTIFF / COG sources (any raster GDAL reads through rasterio).

Layer names: a band's description (``B04``, ``red``), else its colour interpretation (red, green, blue; an alpha
band is the mask, not a layer), else for a single-band file the Sentinel-2 band token of its name
(``S2B_..._B04.tif`` -> ``B04``), else, when some time step has several files (one file per band), the file's stem
without the date (``<stem>_band<i>`` for a multi-band file), else ``band1..n``.

Time of a file: the caller's ``--datetime`` (one for every file, or one per file, RFC 3339), else the TIFF's
``TIFFTAG_DATETIME``, else an ISO date in the file name (``2024-05-01``, ``20240501``, optionally ``T103000``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import PurePosixPath

import numpy as np

from . import sentinel2
from .source import SourceError

DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?:[T_](\d{2}):?(\d{2}):?(\d{2}))?(?!\d)")
EXAMPLE = "2024-05-01T10:30:00Z"


def stem(path: str) -> str:
    """The file name without folder, query and suffixes: 'https://h/a/B04.tif?x=1' -> 'B04'."""
    name = PurePosixPath(path.split("?")[0].rstrip("/")).name
    return name.split(".")[0] or name


def band_token(path: str) -> str | None:
    """A Sentinel-2 band id among the stem's tokens ('S2B_33UWP_20240501_0_L2A_B04' -> 'B04')."""
    for token in reversed(re.split(r"[_\-.\s]+", stem(path))):
        if re.fullmatch(r"[Bb]\d{1,2}[Aa]?", token) and sentinel2.band_id(token):
            return sentinel2.band_id(token)
    return None


def file_layer_name(path: str) -> str:
    """The layer name a single-band file gives when it is one band among several files of a time step."""
    token = band_token(path)
    if token:
        return token
    text = DATE_IN_NAME.sub("", stem(path)).strip("_-. ")
    return re.sub(r"[^A-Za-z0-9_]+", "_", text) or stem(path)


def parse_datetime(text: str) -> np.datetime64:
    """An RFC 3339 date-time ('2024-05-01T10:30:00Z', offsets converted to UTC; a bare date is midnight UTC)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SourceError(f"--datetime {text!r} is not an RFC 3339 date-time, e.g. {EXAMPLE}") from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return np.datetime64(value.replace(microsecond=0), "ns")


def tag_datetime(tags: dict[str, str]) -> np.datetime64 | None:
    """TIFFTAG_DATETIME ('YYYY:MM:DD HH:MM:SS', the TIFF 6.0 form; ISO 8601 accepted too), None if absent/odd."""
    text = (tags.get("TIFFTAG_DATETIME") or "").strip()
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return np.datetime64(datetime.strptime(text, fmt), "ns")
        except ValueError:
            continue
    return None


def name_datetime(path: str) -> np.datetime64 | None:
    """The first valid date (and time) in the file name, None if there is none."""
    for m in DATE_IN_NAME.finditer(PurePosixPath(path.split("?")[0]).name):
        parts = [int(g) for g in m.groups() if g is not None]
        try:
            return np.datetime64(datetime(*parts), "ns")  # type: ignore[arg-type,misc]
        except ValueError:
            continue
    return None


def file_times(paths: list[str], tags: list[dict[str, str]], given: list[str] | None) -> list[np.datetime64]:
    """The time step of each file (see the module's rules); a clear error names a file whose time is unknown."""
    if given:
        if len(given) not in (1, len(paths)):
            raise SourceError(f"--datetime gives {len(given)} values for {len(paths)} files: give one (every "
                              "file is the same time step) or one per file, in the files' order")
        parsed = [parse_datetime(t) for t in given]
        return parsed * len(paths) if len(parsed) == 1 else parsed
    out = []
    for path, tag in zip(paths, tags):
        when = tag_datetime(tag) or name_datetime(path)
        if when is None:
            raise SourceError(f"cannot tell the time of {path}: it has no TIFFTAG_DATETIME tag and no date "
                              f"like 2024-05-01 in its name; pass --datetime {EXAMPLE} (RFC 3339; HTTP: "
                              "\"datetime\"), one for every file or one per file")
        out.append(when)
    return out
