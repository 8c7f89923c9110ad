"""MongoDB's server-side slow log: the database profiler's ``system.profile``, slowest first.

The profiler is per database and off by default (level 0); at level 1 it keeps operations slower
than ``slowms``, at level 2 every operation, in a capped collection. When it is off, or the server
has none (a wire-compatible server may not), the slow log says so
(:class:`~dbplex.slowlog.SlowLogUnavailable`). While redacting, an operation's command shows the
command's name, the collection and the names of its fields and operators; every value is ``?``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone
from typing import Any

import msgspec
from pymongo.errors import OperationFailure

from dbplex.backends import Source
from dbplex.pool import Pool
from dbplex.slowlog import SlowEntry, SlowLogUnavailable, redact
from dbplex_mongo.conn import resolve
from dbplex_mongo.errors import DRIVER_ERRORS, translate

#: what the profiler says of an operation besides its command, kept in the entry's details.
_DETAILS = ("ns", "docsExamined", "keysExamined", "nreturned", "planSummary", "client", "appName")


def _command(command: Mapping[str, Any], redacting: bool) -> str:
    """The command document as JSON; while redacting its shape, with the command's own value
    (the collection it names) and ``$db`` kept."""
    if redacting:
        first = next(iter(command), None)
        shown = {
            k: v if (k == first and isinstance(v, str)) or k == "$db" else redact.shape(v) for k, v in command.items()
        }
    else:
        shown = dict(command)
    return msgspec.json.encode(shown, enc_hook=str).decode()


class MongoSlowLog:
    """The profiler of one source's database, read through its admin pool."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self._source = source
        self._admin = admin

    def entries(self, limit: int, redact: bool) -> list[SlowEntry]:
        name = self._source.name
        try:
            with self._admin.connection() as native:
                database = resolve(native, self._source).database
                try:
                    level = database.command("profile", -1)
                except OperationFailure as exc:
                    raise SlowLogUnavailable(
                        f"source {name!r}: the server has no profiler ({exc.details or exc}); "
                        "slow operations are kept client side only"
                    ) from None
                if "was" not in level:  # a wire-compatible server that accepts the command and keeps nothing
                    raise SlowLogUnavailable(
                        f"source {name!r}: the server has no profiler (its `profile` reply has no level); "
                        "slow operations are kept client side only"
                    )
                if not level["was"]:
                    raise SlowLogUnavailable(
                        f"source {name!r}: the profiler of database {database.name!r} is off: "
                        "db.setProfilingLevel(1, {slowms: 100}) keeps operations slower than 100 ms"
                    )
                found = list(database["system.profile"].find({}, sort=[("millis", -1)], limit=limit))
        except DRIVER_ERRORS as exc:
            raise translate(self._source, exc, "reading the profiler") from exc
        return [self._entry(doc, redact) for doc in found]

    def _entry(self, doc: Mapping[str, Any], redacting: bool) -> SlowEntry:
        command = doc.get("command") or {}
        at = doc.get("ts")
        return SlowEntry(
            source=self._source.name,
            origin="profiler",
            operation=f"{doc.get('op', '?')} {_command(command, redacting)}",
            duration_ms=float(doc.get("millis", 0)),
            at=at.replace(tzinfo=at.tzinfo or timezone.utc).timestamp() if at is not None else None,
            details={k: doc[k] for k in _DETAILS if k in doc},
        )
