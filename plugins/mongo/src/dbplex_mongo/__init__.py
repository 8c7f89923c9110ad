"""dbplex-mongo: the MongoDB backend of dbplex, built on pymongo.

Its own ops are importable without pymongo; the driver loads when a MongoDB source is used.
"""

from __future__ import annotations

from dbplex_mongo.ops import (
    OPS,
    Aggregate,
    Bulk,
    BulkDelete,
    BulkInsert,
    BulkReplace,
    BulkRequest,
    BulkUpdate,
    CreateIndex,
    Find,
    GridFSGet,
    GridFSPut,
    Watch,
)
from dbplex_mongo.options import MongoOptions

__all__ = [
    "OPS",
    "Aggregate",
    "Bulk",
    "BulkDelete",
    "BulkInsert",
    "BulkReplace",
    "BulkRequest",
    "BulkUpdate",
    "CreateIndex",
    "Find",
    "GridFSGet",
    "GridFSPut",
    "MongoOptions",
    "Watch",
]
