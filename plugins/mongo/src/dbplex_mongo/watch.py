"""MongoDB's :class:`~dbplex.changes.ChangeFeed`: a change stream on the source's database.

Change streams exist only on a replica set or a sharded cluster (a single node can be a replica
set of one). A server whose ``hello`` names neither (a standalone ``mongod``; a stand-in such as
nx-27017, which accepts ``watch()`` but never delivers a change) gets an
:class:`~dbplex.errors.UnsupportedError` saying what is needed, before a feed is opened. A position is the
stream's resume token (its ``_data`` text): resuming with ``startAfter`` gives every change
after it, for as long as the oplog still holds it. The server records every write, raw ones
included; ``install(table)`` turns on the collection's post-images
(``changeStreamPreAndPostImages``, MongoDB 6.0+), so that each update carries the document as that
update left it (``fullDocument: whenAvailable``). Without them (a collection not installed, or
its images expired) an update carries only the fields it set (``updateDescription``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.errors import OperationFailure, PyMongoError

from dbplex.backends import Source
from dbplex.changes import Change
from dbplex.errors import UnsupportedError
from dbplex.pool import Pool
from dbplex_mongo.codec import plain_ints

_OPS = {"insert": "insert", "update": "update", "replace": "update", "delete": "delete"}


class MongoChangeFeed:
    """One change stream over the watched collections, kept open between reads."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool
        self._stream: Any = None
        #: the position the open stream stands at: a read from elsewhere reopens it there.
        self._at: str | None = None

    def install(self, table: str) -> None:
        self._require_replica_set()
        with self.pool.connection() as db:
            if table not in db.list_collection_names(filter={"name": table}):
                db.create_collection(table)
            try:
                db.command("collMod", table, changeStreamPreAndPostImages={"enabled": True})
            except OperationFailure as exc:
                reason = (exc.details or {}).get("errmsg") or str(exc)
                raise UnsupportedError(
                    f"source {self.source.name!r}: recording post-images of {table!r} needs MongoDB 6.0 or later: {reason}"
                ) from None

    def prune(self, tables: Sequence[str], before: str) -> int:
        """Nothing of dbplex's to prune: a change stream reads the server's oplog, which the server trims."""
        raise UnsupportedError(
            f"source {self.source.name!r}: MongoDB's change streams read the server's oplog, which the server "
            "trims itself (replication.oplogSizeMB, storage.oplogMinRetentionHours); dbplex records nothing to prune"
        )

    def _require_replica_set(self) -> None:
        with self.pool.connection() as db:
            hello = db.command("hello")
        if "setName" not in hello and hello.get("msg") != "isdbgrid":
            raise UnsupportedError(
                f"source {self.source.name!r}: the server is neither a replica set member nor a mongos, so it has "
                "no change streams; run it as a replica set (a single node started with --replSet and "
                "rs.initiate() will do)"
            )

    def start(self, tables: Sequence[str], after: str | None) -> str:
        stream = self._open(tables, after)
        token = stream.resume_token
        self._at = after if after is not None else token["_data"]
        return self._at

    def _open(self, tables: Sequence[str], after: str | None) -> Any:
        self.close()
        self._require_replica_set()
        pipeline = [{"$match": {"ns.coll": {"$in": list(tables)}, "operationType": {"$in": list(_OPS)}}}]
        try:
            with self.pool.connection() as db:
                self._stream = db.watch(
                    pipeline,
                    full_document="whenAvailable",
                    start_after=None if after is None else {"_data": after},
                    max_await_time_ms=500,
                )
        except OperationFailure as exc:
            reason = (exc.details or {}).get("errmsg") or str(exc)
            raise UnsupportedError(
                f"source {self.source.name!r}: the server refused a change stream: {reason}"
            ) from None
        return self._stream

    def read(self, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        stream = self._stream if self._stream is not None and self._at == after else self._open(tables, after)
        changes: list[Change] = []
        try:
            event = stream.try_next()
            while event is not None:
                changes.append(self._change(event))
                event = stream.try_next() if len(changes) < 1000 else None
        except PyMongoError:
            self.close()
            raise
        if changes:
            self._at = changes[-1].position
        return changes

    def _change(self, event: dict[str, Any]) -> Change:
        op = _OPS[event["operationType"]]
        found = event.get("fullDocument")
        if found is None and event["operationType"] == "update":  # no post-image: the fields it set
            found = event.get("updateDescription", {}).get("updatedFields", {})
        document = dict(found or {})
        document.pop("_id", None)
        return Change(
            source=self.source.name,
            table=event["ns"]["coll"],
            key=str(event["documentKey"]["_id"]),
            op=op,  # type: ignore[arg-type]
            values={} if op == "delete" else plain_ints(document),
            position=event["_id"]["_data"],
        )

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
