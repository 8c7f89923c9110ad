"""The read-through cache of :class:`dbplex.aio.hub.AsyncHub`: the same steps as the sync cache
(:mod:`dbplex.cache.protocol`: keys, leases, what a write invalidates, counts), each awaited on
the async hub, so an async process and a sync one share the entries and their guarantees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from dbplex.cache.protocol import CachePlan, Job, Steps
from dbplex.cache.stats import CacheStats
from dbplex.config import CacheConfig
from dbplex.ops import Op
from dbplex.result import Result

if TYPE_CHECKING:
    from dbplex.aio.hub import AsyncHub

T = TypeVar("T")


class AsyncReadThroughCache(CachePlan):
    """The asyncio twin of :class:`dbplex.cache.ReadThroughCache`: the same methods, awaited
    (``stats()`` and ``cached()`` read this process's state and are not)."""

    def __init__(self, hub: AsyncHub, config: CacheConfig) -> None:
        super().__init__(config, hub.backend, hub.config.path)
        self._hub = hub
        #: awaited with (``SOURCE.TABLE``, key) after a miss read the source and before it stores
        #: its entry: a seam for tests (to write in between, or to cancel a fill). None: nothing.
        self.before_fill: Callable[[str, str], Awaitable[None]] | None = None

    async def execute(self, source: str, op: Op, read: bool | None) -> Result:
        """Run ``op`` on ``source``, through the cache when it reads or writes a cached record."""
        steps = self.routed(source, op, read)
        return await (self._hub.execute_uncached(source, op, read=read) if steps is None else self._run(steps))

    async def invalidate(self, source: str, table: str, keys: Iterable[str]) -> None:
        """As :meth:`dbplex.cache.ReadThroughCache.invalidate`."""
        await self._run(self.invalidation(source, table, keys))

    async def invalidate_written(self, source: str, written: list[tuple[str, str]]) -> None:
        await self._run(self.committed(source, written))

    async def shared_stats(self) -> dict[str, CacheStats]:
        return await self._run(self.shared_counts())

    async def reset_shared_stats(self) -> None:
        await self._run(self.shared_reset())

    async def _run(self, steps: Steps[T]) -> T:
        """Each step awaited; a cancellation is thrown into the steps like any error, so a miss
        gives its lease back before the cancellation goes on."""
        job = Job(steps)
        for step in job:
            try:
                job.reply(await step.call(self))
            except BaseException as exc:
                job.fail(exc)
        return job.outcome()

    # -- the steps' port ------------------------------------------------------------------------

    async def read_source(self, source: str, op: Op, read: bool | None) -> Result:
        return await self._hub.execute_uncached(source, op, read=read)

    async def fill_hook(self, table: str, key: str) -> None:
        if self.before_fill is not None:
            await self.before_fill(table, key)
