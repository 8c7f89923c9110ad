"""The read-through cache of :class:`dbplex.Hub`: the steps of :mod:`dbplex.cache.protocol`
performed with blocking calls on the hub."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from dbplex.cache.protocol import CacheInvalidationError, CachePlan, Job, Steps
from dbplex.cache.stats import CacheStats
from dbplex.config import CacheConfig
from dbplex.ops import Op
from dbplex.result import Result

if TYPE_CHECKING:
    from dbplex.hub import Hub

__all__ = ["CacheInvalidationError", "ReadThroughCache"]

T = TypeVar("T")


class ReadThroughCache(CachePlan):
    """Caches ``Get`` of the configured tables in the Redis source ``config.store`` (see
    :class:`~dbplex.cache.protocol.CachePlan` for what goes through it)."""

    def __init__(self, hub: Hub, config: CacheConfig) -> None:
        super().__init__(config, hub.backend, hub.config.path)
        self._hub = hub
        #: called with (``SOURCE.TABLE``, key) after a miss read the source and before it stores
        #: its entry: a seam for tests (to write in between) and tracing. None: nothing is called.
        self.before_fill: Callable[[str, str], None] | None = None

    def execute(self, source: str, op: Op, read: bool | None) -> Result:
        """Run ``op`` on ``source``, through the cache when it reads or writes a cached record."""
        steps = self.routed(source, op, read)
        return self._hub.execute_uncached(source, op, read=read) if steps is None else self._run(steps)

    def invalidate(self, source: str, table: str, keys: Iterable[str]) -> None:
        """Delete the entries of ``keys`` of a cached table, in every process's view.

        For writes dbplex does not see (SQL, backend ops, another program); a table that is
        not cached is ignored. :class:`CacheInvalidationError` when the store fails.
        """
        self._run(self.invalidation(source, table, keys))

    def invalidate_written(self, source: str, written: list[tuple[str, str]]) -> None:
        """Delete the entries of the (table, key) records a committed transaction wrote."""
        self._run(self.committed(source, written))

    def shared_stats(self) -> dict[str, CacheStats]:
        """Every process's counts per cached table, as added up in the store (``age_max`` is
        not kept there: 0). What ``dbplex analyze`` judges, since it runs in a process of its own."""
        return self._run(self.shared_counts())

    def reset_shared_stats(self) -> None:
        """Start the store's counts again from zero (say, after changing a table's ``ttl``)."""
        self._run(self.shared_reset())

    def _run(self, steps: Steps[T]) -> T:
        job = Job(steps)
        for step in job:
            job.settle(functools.partial(step.call, self))
        return job.outcome()

    # -- the steps' port ------------------------------------------------------------------------

    def read_source(self, source: str, op: Op, read: bool | None) -> Result:
        return self._hub.execute_uncached(source, op, read=read)

    def fill_hook(self, table: str, key: str) -> Any:
        if self.before_fill is not None:
            self.before_fill(table, key)
