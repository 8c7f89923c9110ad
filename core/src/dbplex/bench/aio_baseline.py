"""What the ``dbplex_async_bench_baseline`` hook returns: the raw async driver doing dbplex's record ops.

The asyncio twin of :class:`dbplex.bench.baseline.Baseline`, for ``dbplex bench run --async``:
the same methods, meaning the same, as coroutines, made by hand with the backend's native async
driver (psycopg's ``AsyncConnectionPool``, ``redis.asyncio``, ``AsyncMongoClient``) with a pool
of the given size. It is created without I/O; the benchmark awaits :meth:`open` on its loop.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class AsyncBaseline(Protocol):
    """Record operations on one source through the raw async driver, shared by every coroutine."""

    #: what runs the requests, for reports, e.g. ``"redis-py 5.0.8 (asyncio)"``.
    label: str

    async def open(self) -> None:
        """Connect the pool on the running loop; raise when the server cannot be reached."""
        ...

    async def get(self, table: str, key: str, fields: list[str] | None) -> object: ...

    async def put(self, table: str, key: str, values: dict[str, Any]) -> object: ...

    async def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> object: ...

    async def update(self, table: str, key: str, values: dict[str, Any]) -> object: ...

    async def delete(self, table: str, key: str) -> object: ...

    async def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> object: ...

    async def read_modify_write(
        self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]
    ) -> object: ...

    async def aclose(self) -> None:
        """Close the baseline's connections."""
        ...
