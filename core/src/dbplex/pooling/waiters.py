"""The errors of a caller who got no connection: turned away by ``pool.max_waiting`` (fail fast
rather than queue), or timed out waiting. Every pool words them the same way, whoever pools."""

from __future__ import annotations

from dbplex.errors import PoolFull, PoolTimeout
from dbplex.pool import PoolCounters


def full_error(source: str, limit: int, counters: PoolCounters) -> PoolFull:
    """:class:`PoolFull` naming the limit, counted as ``rejected``."""
    counters.count("rejected")
    return PoolFull(
        f"source {source!r}: no free connection and the wait queue is full (pool.max_waiting = {limit}); "
        "raise pool.max_size or pool.max_waiting, or shed load"
    )


def timeout_message(source: str, timeout: float, used: int | None, limit: int) -> str:
    """What :class:`PoolTimeout` says: how long the caller waited, how many were in use (when the
    pool knows), the maximum."""
    in_use = "" if used is None else f"{used} in use, "
    return f"source {source!r}: no free connection within {timeout:g}s ({in_use}at most {limit})"


def timeout_error(source: str, timeout: float, used: int | None, limit: int) -> PoolTimeout:
    """:class:`PoolTimeout` worded by :func:`timeout_message`, for pools that add nothing to it."""
    return PoolTimeout(timeout_message(source, timeout, used, limit))
