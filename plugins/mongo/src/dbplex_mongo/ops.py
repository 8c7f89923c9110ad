"""MongoDB's own operations, as data.

Filters, projections, sorts, pipelines and documents are what pymongo takes (dicts in MongoDB
query syntax), so an op reads like the shell command it stands for and decodes from JSON with
``dbplex.ops.decode(text, OPS)``. Values that JSON cannot spell (ObjectId, datetime) can be
given from Python. Rows are documents as the server returns them, with int64 decoded as int.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import msgspec

from dbplex.errors import OpError
from dbplex.ops import Op

CollectionName = Annotated[str, msgspec.Meta(pattern=r"^[^$\x00]{1,255}$")]
Document = dict[str, Any]
Count = Annotated[int, msgspec.Meta(ge=0)]


def _check_collection(name: str | None) -> None:
    if name is not None and (not isinstance(name, str) or not name or "$" in name or "\x00" in name):
        raise OpError(f"collection {name!r}: must be a non-empty name without '$' or NUL")


class Find(Op, frozen=True, tag="mongo.find"):
    """Documents matching ``filter``; ``sort`` is ``{"field": 1 | -1, ...}``; ``limit`` 0 means none."""

    collection: CollectionName
    filter: Document = msgspec.field(default_factory=dict)
    projection: Document | None = None
    sort: Document | None = None
    limit: Count = 0
    skip: Count = 0
    is_read: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_collection(self.collection)


class Aggregate(Op, frozen=True, tag="mongo.aggregate"):
    """The documents an aggregation pipeline produces (a pipeline may write, with ``$out``/``$merge``)."""

    collection: CollectionName
    pipeline: list[Document]

    def __post_init__(self) -> None:
        _check_collection(self.collection)


class BulkWrite(msgspec.Struct, frozen=True, tag_field="kind"):
    """Base of the write requests a :class:`Bulk` carries; ``kind`` names the type in JSON."""


class BulkInsert(BulkWrite, frozen=True, tag="insert"):
    document: Document


class BulkReplace(BulkWrite, frozen=True, tag="replace"):
    filter: Document
    replacement: Document
    upsert: bool = False


class BulkUpdate(BulkWrite, frozen=True, tag="update"):
    """``update`` is an update document (``{"$set": ...}``) or an update pipeline."""

    filter: Document
    update: Document | list[Document]
    upsert: bool = False
    many: bool = False


class BulkDelete(BulkWrite, frozen=True, tag="delete"):
    filter: Document
    many: bool = False


#: one write of a :class:`Bulk`.
BulkRequest = BulkInsert | BulkReplace | BulkUpdate | BulkDelete


class Bulk(Op, frozen=True, tag="mongo.bulk"):
    """Several writes in one round trip; ``ordered`` stops at the first error.

    The row counts ``inserted``, ``matched``, ``modified``, ``deleted`` and ``upserted`` and maps
    request index to ``upserted_ids``; ``affected`` is inserted + upserted + matched + deleted.
    """

    collection: CollectionName
    requests: Sequence[BulkRequest]
    ordered: bool = True

    def __post_init__(self) -> None:
        _check_collection(self.collection)
        if not self.requests:
            raise OpError("mongo.bulk: needs at least one request")


class CreateIndex(Op, frozen=True, tag="mongo.create_index"):
    """Create an index (a no-op when an identical one exists); the row gives its ``name``.

    ``keys`` is ``{"field": 1 | -1 | "text" | "2dsphere" | "hashed", ...}`` in index order.
    """

    collection: CollectionName
    keys: Document
    name: str | None = None
    unique: bool = False
    sparse: bool = False
    expire_after_seconds: Count | None = None
    partial_filter: Document | None = None

    def __post_init__(self) -> None:
        _check_collection(self.collection)
        if not self.keys:
            raise OpError("mongo.create_index: keys must name at least one field")


class GridFSPut(Op, frozen=True, tag="mongo.gridfs_put"):
    """Store a file of any size in GridFS chunks; the row gives ``file_id``, ``filename``, ``length``.

    ``bucket`` defaults to the source's ``gridfs_bucket`` option. Files keep every revision
    stored under a name; reading by name returns the newest.
    """

    filename: str
    data: bytes
    bucket: str | None = None
    metadata: Document | None = None
    chunk_size: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def __post_init__(self) -> None:
        _check_collection(self.bucket)


class GridFSGet(Op, frozen=True, tag="mongo.gridfs_get"):
    """Read one GridFS file by ``file_id`` or by ``filename`` (``revision`` -1 is the newest).

    The row has ``file_id``, ``filename``, ``length``, ``data``, ``metadata`` and
    ``upload_date``; a missing file gives no row. A 24-digit hex string ``file_id`` means
    that ObjectId, so ids can come from JSON.
    """

    filename: str | None = None
    file_id: Any = None
    revision: int = -1
    bucket: str | None = None
    is_read: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_collection(self.bucket)
        if (self.filename is None) == (self.file_id is None):
            raise OpError("mongo.gridfs_get: give exactly one of filename and file_id")


class Watch(Op, frozen=True, tag="mongo.watch"):
    """The change events of a collection (or, without one, the database) seen during the call.

    Returns after ``max_events`` events or ``max_wait`` seconds, whichever comes first. Each
    event's ``_id`` is a resume token: pass the last one as ``resume_after`` to continue where
    the previous call stopped. Needs a replica set or sharded cluster.
    """

    collection: CollectionName | None = None
    pipeline: list[Document] = msgspec.field(default_factory=list)
    max_events: Annotated[int, msgspec.Meta(ge=1)] = 100
    max_wait: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    full_document: str | None = None
    resume_after: Document | None = None
    is_read: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_collection(self.collection)
        if self.max_events < 1 or self.max_wait <= 0:
            raise OpError("mongo.watch: max_events must be at least 1 and max_wait above 0")


#: every op type this backend adds, for ``Backend.ops`` and ``dbplex.ops.decode``.
OPS: tuple[type[Op], ...] = (Find, Aggregate, Bulk, CreateIndex, GridFSPut, GridFSGet, Watch)
