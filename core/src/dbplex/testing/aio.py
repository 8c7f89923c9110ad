"""Run the conformance suite's synchronous tests against :func:`dbplex.open_async` too.

:class:`BlockingHub` drives an :class:`~dbplex.aio.AsyncHub` from synchronous test code: the
hub lives on one event loop in a thread of its own for its whole life (its pools belong to that
loop), and each call runs there and waits for its answer. :class:`BothModes` makes a section's
``hub`` fixture yield a sync hub and then this one, so every assertion of the section holds
for both APIs without being written twice. Test code only: an application awaits the hub.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, TypeVar

import pytest

import dbplex
from dbplex.aio import AsyncHub, AsyncTransaction, open_async
from dbplex.backends import Backend
from dbplex.health import Report
from dbplex.ops import Op
from dbplex.pool import PoolStats
from dbplex.result import Result
from dbplex.testing.conformance_base import SOURCE, SuiteBase

T = TypeVar("T")


class BlockingHub:
    """An :class:`~dbplex.aio.AsyncHub` on a loop thread, with the sync hub's methods the suite uses."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dbplex-test-loop", daemon=True)
        self._thread.start()
        self.hub: AsyncHub = open_async(config)
        self.plugins = self.hub.plugins

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the hub's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def execute(self, source: str, op: Op) -> Result:
        return self.run(self.hub.execute(source, op))

    def backend(self, source: str) -> Backend:
        return self.hub.backend(source)

    def pool_stats(self) -> dict[str, PoolStats]:
        return self.run(_value(self.hub.pool_stats))

    def resize(self, source: str, min_size: int, max_size: int) -> None:
        self.run(self.hub.resize(source, min_size, max_size))

    def health(self, sources: list[str] | None = None) -> Report:
        return self.run(self.hub.health(sources))

    @contextmanager
    def connection(self, source: str) -> Iterator[Any]:
        with self._entered(self.hub.connection(source)) as conn:
            yield conn

    @contextmanager
    def transaction(self, source: str) -> Iterator[_BlockingTransaction]:
        tx: AsyncTransaction
        with self._entered(self.hub.transaction(source)) as tx:
            yield _BlockingTransaction(self, tx)

    @contextmanager
    def _entered(self, manager: AbstractAsyncContextManager[T]) -> Iterator[T]:
        value = self.run(_enter(manager))
        try:
            yield value
        except BaseException as exc:
            if not self.run(_exit(manager, exc)):
                raise
        else:
            self.run(_exit(manager, None))

    def close(self) -> None:
        try:
            self.run(self.hub.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


class _BlockingTransaction:
    def __init__(self, blocking: BlockingHub, tx: AsyncTransaction) -> None:
        self._blocking = blocking
        self.conn = tx.conn
        self._tx = tx

    def execute(self, op: Op) -> Result:
        return self._blocking.run(self._tx.execute(op))


async def _value(read: Any) -> Any:
    return read()


async def _enter(manager: AbstractAsyncContextManager[T]) -> T:
    return await manager.__aenter__()


async def _exit(manager: AbstractAsyncContextManager[Any], exc: BaseException | None) -> bool | None:
    done: Awaitable[bool | None] = manager.__aexit__(
        type(exc) if exc else None, exc, exc.__traceback__ if exc else None
    )
    return await done


class BothModes(SuiteBase):
    """A section mixin: its ``hub`` (and ``open_source``'s hubs) are ``dbplex.open`` 's, then
    ``dbplex.open_async`` 's behind a :class:`BlockingHub`."""

    @pytest.fixture(params=["sync", "async"])
    def hub(self, request: pytest.FixtureRequest, source_url: str) -> Iterator[Any]:
        config = {
            "sources": {SOURCE: {"url": source_url, "pool": {"min_size": 1, "max_size": 4}, **self.source_fields}}
        }
        if request.param == "sync":
            with dbplex.open(config) as hub:
                yield hub
            return
        blocking = BlockingHub(config)
        try:
            yield blocking
        finally:
            blocking.close()

    @pytest.fixture(params=["sync", "async"])
    def open_source(self, request: pytest.FixtureRequest, source_url: str) -> Iterator[Callable[..., Any]]:
        """As :meth:`SuiteBase.open_source`, giving sync hubs, then :class:`BlockingHub` s: the pool
        section's tests run against both pools."""
        hubs: list[Any] = []

        def make(url: str | None = None, **pool: Any) -> Any:
            config = {"sources": {SOURCE: {**self.source_fields, "url": url or source_url, "pool": pool}}}
            hub = dbplex.open(config) if request.param == "sync" else BlockingHub(config)
            hubs.append(hub)
            return hub

        yield make
        for hub in hubs:
            hub.close()
