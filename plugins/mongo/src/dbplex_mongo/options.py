"""``[sources.X.options]`` for MongoDB sources."""

from __future__ import annotations

from typing import Annotated

import msgspec

from dbplex.backends import Source

DatabaseName = Annotated[str, msgspec.Meta(pattern=r'^[^/\\. "$\x00]{1,63}$')]
BucketName = Annotated[str, msgspec.Meta(pattern=r"^[^$\x00]{1,120}$")]

#: the database used when neither the URL path nor ``options.database`` names one.
DEFAULT_DATABASE = "dbplex"
#: seconds an op waits for the server's reply when the source sets no ``operation_timeout``.
DEFAULT_OPERATION_TIMEOUT = 30.0


class MongoOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Backend settings of a MongoDB source."""

    #: the database ops and ``hub.connection()`` use; overrides the URL's path.
    database: DatabaseName | None = None
    #: the GridFS bucket (collection prefix) of ``mongo.gridfs_*`` ops that name none.
    gridfs_bucket: BucketName = "fs"
    #: observe pymongo's pool through its connection-pool events (every ``pool_stats()``
    #: figure, ``pool.leak_threshold``, ``pool.max_waiting``). Off, no listener is registered and
    #: pymongo builds no event per operation, the CPU of a raw ``find_one``; ``pool_stats()``
    #: then has only ``min``, ``max``, ``errors`` and ``timeouts``.
    pool_statistics: bool = True


def options_of(source: Source) -> MongoOptions:
    """A source's validated options (defaults for a source built without them)."""
    return source.options if isinstance(source.options, MongoOptions) else MongoOptions()


def operation_timeout(source: Source) -> float:
    """How long an op waits for the server's reply (pymongo's ``socketTimeoutMS``)."""
    return source.config.operation_timeout or DEFAULT_OPERATION_TIMEOUT
