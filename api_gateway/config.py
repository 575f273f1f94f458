"""Twelve-factor settings: environment variables, or a `.env` file beside the project (see .env.example)."""

from pathlib import Path

from starlette.config import Config
from starlette.datastructures import Secret

ROOT = Path(__file__).resolve().parent.parent
config = Config(ROOT / ".env" if (ROOT / ".env").exists() else None)

DATABASE_URL: str = config("DATABASE_URL", default="postgresql://postgres@127.0.0.1:5439/stapi")
WRITE_TOKEN: Secret = config("STAPI_WRITE_TOKEN", cast=Secret, default="dev-token")
DEFAULT_LIMIT: int = config("STAPI_DEFAULT_LIMIT", cast=int, default=10)
MAX_LIMIT: int = config("STAPI_MAX_LIMIT", cast=int, default=10000)
RASTER_WORKER_URL: str = config("RASTER_WORKER_URL", default="http://127.0.0.1:8081")
DATA_DIR: Path = Path(config("STAPI_DATA_DIR", default=str(ROOT / ".local" / "data")))
POOL_MIN: int = config("STAPI_POOL_MIN", cast=int, default=2)
POOL_MAX: int = config("STAPI_POOL_MAX", cast=int, default=20)
CACHE_MAX_AGE: int = config("STAPI_CACHE_MAX_AGE", cast=int, default=60)
