"""What a slow-operation record holds, and what a backend provides for ``dbplex slowlog``."""

from __future__ import annotations

from typing import Any, Literal, Protocol

import msgspec

from dbplex.errors import UnsupportedError

#: where an entry comes from: this process's hub, or what the server keeps.
Origin = Literal["client", "pg_stat_statements", "profiler", "slowlog"]


class SlowEntry(msgspec.Struct, kw_only=True):
    """One slow operation (client side, or as the server keeps it)."""

    source: str
    origin: Origin
    #: the operation as shown: the op, statement or command, without parameter values while the
    #: source's ``slow.redact`` is on.
    operation: str
    #: milliseconds the operation took (``pg_stat_statements``: the mean of its calls); the
    #: pool's wait is not included.
    duration_ms: float
    #: when it happened, in seconds since the epoch; None where the server keeps aggregates only.
    at: float | None = None
    #: the endpoint it ran on (``SOURCE``, ``SOURCE/replicaN``, ``SOURCE/admin``): client side only.
    endpoint: str | None = None
    #: milliseconds the operation waited for its pool's connection; None where not known.
    pool_wait_ms: float | None = None
    #: how many calls an aggregate entry stands for (``pg_stat_statements``); None for one call.
    calls: int | None = None
    #: the exception's class name when the operation failed.
    error: str | None = None
    #: what else the server says about it (rows, total and longest time, client address, ...).
    details: dict[str, Any] = {}


class SlowNote(msgspec.Struct, frozen=True, kw_only=True):
    """Something ``dbplex slowlog`` could not read from one source, and why."""

    source: str
    #: ``info``: the server keeps no slow log as configured (what to enable is said); ``error``:
    #: reading it failed.
    level: Literal["info", "error"]
    message: str


class SlowReport(msgspec.Struct, kw_only=True):
    """What ``dbplex slowlog`` shows: entries of every source, slowest first, and the notes."""

    entries: list[SlowEntry]
    notes: list[SlowNote] = []


class SlowLogUnavailable(UnsupportedError):
    """The server keeps no slow log as configured (an extension not loaded, a profiler off).

    Its message says what to enable; ``dbplex slowlog`` shows it as an INFO note, not an error.
    """


class SlowLog(Protocol):
    """One source's server-side slow log; its connections come from the hub's pools (no I/O when made)."""

    def entries(self, limit: int, redact: bool) -> list[SlowEntry]:
        """Up to ``limit`` of the slowest operations the server keeps, slowest first.

        With ``redact``, no parameter value appears in an entry (see :mod:`dbplex.slowlog.redact`).
        Raises :class:`~dbplex.slowlog.SlowLogUnavailable` when the server keeps none as configured.
        """
