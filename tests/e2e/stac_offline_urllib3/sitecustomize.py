"""../shared/tools/stac-offline, plus urllib3: pystac reads schemas with `urllib3.PoolManager` when urllib3 is
installed, which that shim (requests and urllib) does not answer, so stac-api-validator's pystac pass
(`child.validate()` of every collection) went to the network for the extension schemas of cube collections.

Put this folder first on PYTHONPATH and STAC_OFFLINE_SHIM at the shared sitecustomize.py: it runs that one, then
answers urllib3 GETs of schema URLs from the same STAC_SCHEMA_DIR.
"""

import io
import os
import runpy

_shim = runpy.run_path(os.environ["STAC_OFFLINE_SHIM"])
_local_path = _shim["_local_path"]

try:
    import urllib3

    _orig_urlopen = urllib3.PoolManager.urlopen

    def _urlopen(self, method, url, redirect=True, **kw):  # type: ignore[no-untyped-def]
        path = _local_path(url) if method.upper() == "GET" else None
        if path is None:
            return _orig_urlopen(self, method, url, redirect=redirect, **kw)
        with open(path, "rb") as f:
            data = f.read()
        return urllib3.HTTPResponse(body=io.BytesIO(data), status=200, preload_content=False, request_url=url,
                                    headers={"Content-Type": "application/json", "Content-Length": str(len(data))})

    urllib3.PoolManager.urlopen = _urlopen
except ImportError:
    pass
