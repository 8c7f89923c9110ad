"""Read routing for the asyncio hub: the sync router's decisions (:class:`dbplex.routing.router.Routing`)
over asyncio endpoints, with the replica checker as a task on the hub's loop instead of a thread."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from dbplex.aio.endpoint import AsyncEndpoint
from dbplex.errors import SourceUnavailable
from dbplex.health import Health
from dbplex.ops import Op
from dbplex.result import Result
from dbplex.routing.router import Routing, replica_sources

if TYPE_CHECKING:
    from dbplex.backends import Source
    from dbplex.binding import AsyncBound


class AsyncRouter:
    """Routes the reads of one source among its asyncio endpoints: the replicas, and the primary last."""

    def __init__(self, source: Source, primary: AsyncEndpoint, aio: AsyncBound) -> None:
        self.source = source
        self._primary = primary
        self.routing = Routing(source, [AsyncEndpoint(s, aio, b) for s, b in replica_sources(source)])
        self.replicas = self.routing.replicas
        self._checker: asyncio.Task[None] | None = None

    def wrote(self) -> None:
        self.routing.wrote()

    async def read(self, op: Op) -> Result:
        if self._checker is None:
            self._checker = asyncio.get_running_loop().create_task(
                self._check_loop(), name=f"dbplex-replicas-{self.source.name}"
            )
        replicas = self.routing.choices()
        if replicas is None:
            return await self._primary.run(op)
        for replica in replicas:
            replica.in_flight += 1  # one loop: no lock needed
            started = time.perf_counter()
            try:
                result = await replica.run(op)
            except SourceUnavailable:
                replica.breaker.failure()
                continue
            finally:
                replica.in_flight -= 1
            self.routing.served(replica, (time.perf_counter() - started) * 1000)
            return result
        self.routing.fallbacks += 1
        return await self._primary.run(op)

    async def check(self, replica: AsyncEndpoint) -> Health:
        """One health check of ``replica``: it feeds the breaker and the lag the reads consult."""
        return self.routing.checked(replica, await replica.check())

    async def _check_loop(self) -> None:
        while True:
            await asyncio.sleep(self.routing.interval)
            for replica in self.routing.due():
                await self.check(replica)

    async def aclose(self) -> None:
        """Stop the checker; the hub closes the endpoints' pools (reads may reopen them)."""
        checker, self._checker = self._checker, None
        if checker is not None:
            checker.cancel()
            await asyncio.wait({checker})
