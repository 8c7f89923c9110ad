"""The asyncio tests reuse the MongoDB fixtures that tell the nx-27017 stand-in apart."""

from tests.mongo.conftest import mongo_kind, mongo_url, nx_bug, on_nx, raw_client

__all__ = ["mongo_kind", "mongo_url", "nx_bug", "on_nx", "raw_client"]
