"""Run every benchmark in bench/ (files named bench_*.py), one after another; each prints its own figures.

Usage: python bench/run_all.py [NAME ...]   (DATABASE_URL: the database to use; `make bench` sets it)
Peers (stac-fastapi-pgstac, tipg, titiler.xarray) are installed from PyPI into their own virtual
environments under .local/bench/ by the scripts that need them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.name for a in argv)]
    if not scripts:
        print("run_all: no benchmark scripts (bench/bench_*.py) matched")
        return 1
    failed = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        failed += subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
