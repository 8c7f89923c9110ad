"""What every section of the conformance suite shares: the source under test and the backend's hooks.

A backend's test class sets :attr:`SuiteBase.backend` (and overrides ``source_url`` for a server
``dbplex_servers`` does not know), then implements the few methods only it can: how to end its
server sessions from outside (:meth:`SuiteBase.kill_connections`), how to keep a pooled
connection checked out (:meth:`SuiteBase.hold`) and how to make a partitioned target
(:meth:`SuiteBase.partition_spec`). Everything else runs through dbplex's public surface, so the
sections hold whatever pool or migrator implementation sits underneath.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, ClassVar

import pytest

import dbplex
from dbplex.testing.capabilities import declared

#: the name of the source every section opens.
SOURCE = "s"


class SuiteBase:
    """The source under test; subclass through :class:`~dbplex.testing.conformance.ConformanceSuite`."""

    backend: ClassVar[str]
    #: extra source fields for the hub the suite opens (e.g. ``{"options": {...}}``).
    source_fields: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def source_url(self, dbplex_servers: Any) -> str:
        return str(dbplex_servers.url(self.backend))

    @pytest.fixture
    def hub(self, source_url: str) -> Iterator[dbplex.Hub]:
        fields = {"url": source_url, "pool": {"min_size": 1, "max_size": 4}, **self.source_fields}
        with dbplex.open({"sources": {SOURCE: fields}}) as hub:
            yield hub

    @pytest.fixture
    def open_source(self, source_url: str) -> Iterator[Callable[..., dbplex.Hub]]:
        """``open_source(url=None, **pool)``: a hub whose source ``s`` has these pool settings; closed afterwards."""
        hubs: list[dbplex.Hub] = []

        def make(url: str | None = None, **pool: Any) -> dbplex.Hub:
            fields = {**self.source_fields, "url": url or source_url, "pool": pool}
            hub = dbplex.open({"sources": {SOURCE: fields}})
            hubs.append(hub)
            return hub

        yield make
        for hub in hubs:
            hub.close()

    def has(self, hub: dbplex.Hub, capability: str) -> bool:
        """Whether the backend declares ``capability`` (a flag or an optional hook, see :mod:`.capabilities`)."""
        return capability in declared(hub, SOURCE)

    def require(self, hub: dbplex.Hub, capability: str) -> None:
        """Skip, naming the capability, unless the backend declares it; once declared, tests must pass."""
        if not self.has(hub, capability):
            pytest.skip(f"backend {hub.backend(SOURCE).name!r} does not declare {capability!r}")

    # -- what only the backend's test class knows ------------------------------------------------

    def server_lacks(self, hub: dbplex.Hub, capability: str) -> str | None:
        """Why the test server lacks ``capability`` although the backend implements it, or None
        (the default: a declared capability is always checked)."""
        return None

    def tagged_url(self, url: str, tag: str) -> str:
        """``url`` whose sessions the server shows under ``tag`` (PostgreSQL ``application_name``,
        Redis ``client_name``, MongoDB ``appname``), so that :meth:`kill_connections` ends
        exactly those. The default returns ``url`` as it is."""
        return url

    def kill_connections(self, url: str, tag: str) -> int:
        """End, from the server side, every session opened through ``tagged_url(url, tag)``;
        return how many were ended. Required: the pool section checks that a killed connection
        is replaced, not handed out broken. A backend that cannot do it overrides the test with
        a skip that says why."""
        raise NotImplementedError(
            f"{type(self).__name__}.kill_connections(url, tag): end the server sessions of this test's "
            "clients (PostgreSQL pg_terminate_backend, Redis CLIENT KILL); every backend implements it"
        )

    def servers(self, hub: dbplex.Hub) -> int:
        """How many servers source ``s`` keeps a pool for: 1, or a cluster's masters. Pool bounds
        apply per server, so the source's ``PoolStats`` report ``min``, ``max`` and the gauges
        summed over them, and the pool section scales its expectations by this."""
        return 1

    @contextmanager
    def hold(self, hub: dbplex.Hub, table: str, count: int) -> Iterator[None]:
        """Keep ``count`` pooled connections of source ``s`` checked out while the block runs.

        The default holds ``hub.connection()``, right where that lends one connection. A backend
        whose native object borrows per command (a redis-py client, a MongoClient) overrides it.
        ``table`` is the table the test's ops use (a cluster picks the node by it)."""
        with ExitStack() as stack:
            for _ in range(count):
                stack.enter_context(hub.connection(SOURCE))
            yield
