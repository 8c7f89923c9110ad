"""The psycopg connections of a source: how they are opened and what they carry.

Connections run in autocommit mode: a record op is then one round trip, where psycopg's
default (an implicit transaction) would add BEGIN and COMMIT. ``Pool.transaction()`` opens an
explicit transaction when several ops must commit together.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.rows import TupleRow

from dbplex.backends import Source
from dbplex_pg import deadline, errors
from dbplex_pg.options import PgOptions
from dbplex_pg.translate import TableSql, decode_record

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import Self

C = TypeVar("C", bound="psycopg.Connection[Any] | psycopg.AsyncConnection[Any]")
#: a blocking connection class: what :func:`open_connection` opens
S = TypeVar("S", bound="psycopg.Connection[Any]")

#: runs of one SQL text on a connection before psycopg prepares it (psycopg's default).
PREPARE_THRESHOLD = 5


class SourceState:
    """What the connections of one pool share."""

    __slots__ = ("bound", "client_bound", "in_flight", "name", "schema", "sweeping", "tables")

    def __init__(self, name: str, schema: str, bound: float) -> None:
        self.name = name
        self.schema = schema
        #: tables known to exist, with their statements: a record op's only per-call lookup.
        self.tables: dict[str, TableSql] = {}
        #: ``operation_timeout``: the server's bound on a statement; the client's is a little longer.
        self.bound = bound
        self.client_bound = bound + deadline.GRACE
        #: connections running an op, with the ``time.monotonic()`` deadline of that op.
        self.in_flight: dict[PgConnection | AsyncPgConnection, float] = {}
        #: under asyncio: whether a sweep is scheduled on the loop (:func:`dbplex_pg.deadline.begin_on_loop`).
        self.sweeping = False


class RecordLoader(Loader):
    """Reads the ``data`` column of record tables: msgspec, then tagged values restored."""

    def load(self, data: Buffer) -> Any:
        return decode_record(data)


class PgConnection(psycopg.Connection[TupleRow]):
    """A psycopg connection that knows its source's state and keeps a cursor for record ops."""

    state: ClassVar[SourceState]
    #: reused by every record op: a new cursor per op would cost more than the op's own Python work.
    records: psycopg.Cursor[TupleRow]
    #: set when an op on it outlived its deadline and its socket was shut down.
    timed_out = False

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        """Connect, with the records cursor ready."""
        conn = super().connect(conninfo, **kwargs)
        conn.records = conn.cursor()
        conn.records.adapters.register_loader("jsonb", RecordLoader)
        return conn


class AsyncPgConnection(psycopg.AsyncConnection[TupleRow]):
    """The asyncio twin of :class:`PgConnection`: the same shared state and reused records cursor."""

    state: ClassVar[SourceState]
    records: psycopg.AsyncCursor[TupleRow]
    #: set when an op on it outlived its deadline and its socket was shut down.
    timed_out = False
    #: the server's answer after a write was refused as read-only (:func:`dbplex_pg.aio_connector.learn_role`).
    in_recovery = False

    @classmethod
    async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        """Connect, with the records cursor ready."""
        conn = await super().connect(conninfo, **kwargs)
        conn.records = conn.cursor()
        conn.records.adapters.register_loader("jsonb", RecordLoader)
        return conn


def options(source: Source) -> PgOptions:
    """The source's validated ``options`` table."""
    opts: PgOptions = source.options
    return opts


def connection_class(source: Source, base: type[C]) -> type[C]:
    """A connection class of one's own for a pool (or a lone connection) and its shared state;
    ``base`` :class:`PgConnection`, or :class:`AsyncPgConnection` for the asyncio pool."""
    state = SourceState(source.name, options(source).schema, deadline.operation_timeout(source))
    return type(base.__name__, (base,), {"state": state, "__module__": __name__})


def connect_timeout(source: Source) -> int:
    """``connect_timeout`` as libpq counts it: whole seconds, at least 2."""
    return max(2, int(source.config.connect_timeout))


def connect_kwargs(source: Source, *, bounded: bool = True) -> dict[str, Any]:
    """psycopg's connection arguments for ``source``, beyond its URL.

    When ``bounded``, the operation timeout is sent as ``statement_timeout``, a startup option
    (no extra round trip), ahead of the URL's own ``options`` so that a ``-c
    statement_timeout=...`` there still wins. The admin pool's sessions (``source.role ==
    "admin"``: migrations and partition maintenance) are never bounded: an index build may
    rightly take longer, and they set their own timeouts.
    """
    opts = options(source)
    params = errors.conninfo(source)
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "prepare_threshold": PREPARE_THRESHOLD if opts.prepared_statements else None,
        "connect_timeout": connect_timeout(source),
    }
    if bounded and source.role != "admin":
        timeout_ms = round(deadline.operation_timeout(source) * 1000)
        kwargs["options"] = f"-c statement_timeout={timeout_ms} {params.get('options') or ''}".strip()
    if "application_name" not in params:
        kwargs["application_name"] = opts.application_name
    return kwargs


def open_connection(source: Source, connection_type: type[S], *, bounded: bool = True) -> S:
    """One new connection, or :class:`~dbplex.errors.SourceUnavailable` saying why not; with
    ``bounded``, its statements are bounded by the operation timeout (see :func:`connect_kwargs`)."""
    try:
        return connection_type.connect(source.url, **connect_kwargs(source, bounded=bounded))
    except psycopg.Error as exc:
        raise errors.unavailable(source, exc, connect_timeout(source)) from None
