"""Demo step: a tiny deterministic STAC collection ('demo-stac', six Sentinel-2-like scenes over the Alps),
so `make run` shows data on /collections and /search before any cube is uploaded. Idempotent (upsert).

It goes through the same SQL functions as the HTTP API (api.collection_create, api.items_load).
"""

from __future__ import annotations

import json

import psycopg

COLLECTION_ID = "demo-stac"


def collection() -> dict:
    return {
        "type": "Collection", "stac_version": "1.0.0", "id": COLLECTION_ID,
        "title": "Demo scenes (Alps)",
        "description": "Six made-up Sentinel-2-like scenes over the western Alps, for trying the STAC API.",
        "keywords": ["demo", "sentinel-2", "alps"], "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [[6.0, 45.5, 9.0, 47.0]]},
                   "temporal": {"interval": [["2024-06-01T10:00:00Z", "2024-06-26T10:00:00Z"]]}},
        "summaries": {"platform": ["sentinel-2a", "sentinel-2b"], "eo:cloud_cover": {"min": 3, "max": 78}},
        "links": [],
    }


def item(i: int) -> dict:
    x, y = 6.0 + (i % 3), 45.5 + 0.75 * (i // 3)
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": f"demo-scene-{i + 1}", "collection": COLLECTION_ID,
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.0.0/schema.json"],
        "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 1, y], [x + 1, y + 0.75], [x, y + 0.75], [x, y]]]},
        "bbox": [x, y, x + 1, y + 0.75],
        "properties": {"datetime": f"2024-06-{1 + 5 * i:02d}T10:00:00Z", "platform": f"sentinel-2{'ab'[i % 2]}",
                       "eo:cloud_cover": [12, 3, 45, 78, 20, 7][i]},
        "assets": {"thumbnail": {"href": f"https://example.org/demo-scene-{i + 1}.png", "type": "image/png",
                                 "roles": ["thumbnail"]}},
        "links": [],
    }


def load(dsn: str) -> str:
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL ROLE stapi_writer")
        exists = conn.execute("SELECT 1 FROM pgstac.collections WHERE id = %s", (COLLECTION_ID,)).fetchone()
        if exists:
            conn.execute("SELECT api.collection_replace(%s, %s::jsonb)", (COLLECTION_ID, json.dumps(collection())))
        else:
            conn.execute("SELECT api.collection_create(%s::jsonb)", (json.dumps(collection()),))
        body = {"items": [item(i) for i in range(6)], "method": "upsert"}
        conn.execute("SELECT api.items_load(%s, %s::jsonb)", (COLLECTION_ID, json.dumps(body)))
    return f"collection {COLLECTION_ID} with 6 items"
