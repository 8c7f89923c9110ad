"""The asyncio tests reuse the MongoDB fixtures that tell the nx-27017 stand-in apart, and the
change feed's table whose changes are recorded."""

from tests.mongo.conftest import mongo_kind, mongo_url, nx_bug, on_nx, raw_client
from tests.watch.conftest import watched

__all__ = ["mongo_kind", "mongo_url", "nx_bug", "on_nx", "raw_client", "watched"]
