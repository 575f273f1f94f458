"""Load the demo dataset (idempotent): each capability contributes a step in scripts/demo_*.py.

Usage: python -m scripts.load_demo [--dsn URL]
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from pathlib import Path

from scripts.migrate import DEFAULT_DSN

log = logging.getLogger("demo")


def steps() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("demo_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load the demo dataset into the database (idempotent).")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    for name in steps():
        module = importlib.import_module(f"scripts.{name}")
        log.info("%s: %s", name, module.load(args.dsn))
    return 0


if __name__ == "__main__":
    sys.exit(main())
