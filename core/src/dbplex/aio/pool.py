"""The asyncio pool protocol: what ``dbplex_async_pool`` returns, the twin of :class:`dbplex.Pool`."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from dbplex.pool import PoolStats


@runtime_checkable
class AsyncPool(Protocol):
    """An asyncio pool: opened and closed by awaiting, connections checked out with ``async with``."""

    async def open(self) -> None:
        """Start the pool on the running loop (connect ``min_size``' first connection, start maintenance)."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Any]:
        """Check out the native async driver object."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """Check out a native connection inside a transaction: commit on success, roll back on error."""
        ...

    def stats(self) -> PoolStats:
        """The pool's gauges and counters, meaning what they mean for :class:`dbplex.Pool`."""
        ...

    async def aclose(self) -> None:
        """Close every connection; the pool is unusable afterwards."""
        ...
