"""The public entry point: ``dbplex.open(config)`` returns a :class:`Hub` over every source."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dbplex import config as config_mod
from dbplex import plugins as plugins_mod
from dbplex.backends import Backend, Source
from dbplex.binding import BoundBackend, Endpoint, derived, unanswered
from dbplex.cache.protocol import records_written
from dbplex.changes.watching import Limits, Watching
from dbplex.config import Config
from dbplex.errors import ConfigError, UnsupportedError
from dbplex.health import Health, Report, Status, aggregate
from dbplex.ops import Op
from dbplex.plugins import Plugins
from dbplex.pool import Pool, PoolStats
from dbplex.pooling import fork
from dbplex.result import Result
from dbplex.routing import Router
from dbplex.routing.router import breaker

if TYPE_CHECKING:
    from dbplex.analyze.model import Analyzer
    from dbplex.cache import ReadThroughCache
    from dbplex.changes import ChangeFeed, Watch
    from dbplex.check.backend import Checker
    from dbplex.metrics.recorder import MetricsPlugin
    from dbplex.migrate.backend import Migrator
    from dbplex.partition.api import Partitioned
    from dbplex.partition.backend import Partitioner
    from dbplex.partition.spec import PartitionSpec
    from dbplex.schema.model import Describer
    from dbplex.slowlog.model import SlowEntry, SlowLog
    from dbplex.slowlog.recorder import SlowPlugin


class _Bound:
    """A source bound to its backend: its endpoints (primary, replicas, admin) and router."""

    __slots__ = ("admin", "backend", "bound", "lock", "primary", "router", "source")

    def __init__(self, source: Source, bound: BoundBackend) -> None:
        self.source = source
        self.backend = bound.backend
        self.bound = bound
        self.primary = Endpoint(source, bound, breaker(source, "primary"))
        #: the sibling pool of capability sessions (locks, DDL), ``SOURCE/admin``, opened on first use.
        self.admin = Endpoint(derived(source, "admin", f"{source.name}/admin"), bound, breaker(source, "admin"))
        #: routes reads to replicas; None for a source without any (its hot path stays as it was).
        self.router: Router | None = None
        if source.config.replicas:
            self.router = Router(source, self.primary, bound)
        #: guards making the source's partitioner once.
        self.lock = threading.Lock()

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every endpoint of the source: primary, replicas, admin."""
        replicas = self.router.replicas if self.router is not None else []
        return [self.primary, *replicas, self.admin]

    def after_fork(self) -> list[Pool]:
        self.lock = threading.Lock()
        if self.router is not None:
            self.router.after_fork()
        return [pool for endpoint in self.endpoints if (pool := endpoint.after_fork()) is not None]


class Transaction:
    """Ops run on one connection inside one transaction (see :meth:`Hub.transaction`)."""

    def __init__(self, bound: _Bound, conn: Any) -> None:
        self._bound = bound
        #: the native driver connection (or session) the transaction runs on.
        self.conn = conn
        #: (table, key) of each record written, whose cache entries the hub deletes after the commit.
        self.written: list[tuple[str, str]] = []

    def execute(self, op: Op) -> Result:
        self.written.extend(records_written(op))
        return self._bound.bound.query(self._bound.source, self.conn, op)


class Hub(Watching["Watch"]):
    """Every configured source behind one object.

    Pools open lazily, on a source's first use, so one unreachable source does not stop the
    others. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, config: Config, plugins: Plugins) -> None:
        self.config = config
        self.plugins = plugins
        self._bound: dict[str, _Bound] = {}
        #: partitioners by source, made on first use (see :meth:`partitioner`).
        self._partitioners: dict[str, Partitioner] = {}
        #: the operation metrics of this hub's sources; None when ``[metrics]`` is off.
        self.metrics: MetricsPlugin | None = None
        if config.metrics.enabled:
            from dbplex.metrics.recorder import MetricsPlugin

            # registered before the hooks are bound, so that the bound query hook includes it
            self.metrics = MetricsPlugin()
            plugins.manager.register(self.metrics)
        #: the slow-operation recorder of this hub's sources; None when no source has a threshold.
        self.slow: SlowPlugin | None = None
        if any(s.slow.threshold_ms is not None for s in config.sources.values()):
            from dbplex.slowlog.recorder import SlowPlugin

            self.slow = SlowPlugin()  # registered before the hooks are bound, as the metrics are
            plugins.manager.register(self.slow)
        for name, source_config in config.sources.items():
            source = plugins.source(name, source_config)
            self._bound[name] = _Bound(source, plugins.hooks_for(source.backend))
        if self.slow is not None:
            self.slow.watch(e.source for b in self._bound.values() for e in b.endpoints)
        if self.metrics is not None:
            self.metrics.watch(e.source for b in self._bound.values() for e in b.endpoints)
            if config.metrics.otel:
                from dbplex.metrics.otel import record_into_otel

                record_into_otel(self)
        #: the read-through cache (``[cache]``); None when it names no tables.
        self.cache: ReadThroughCache | None = None
        if config.cache.tables:
            from dbplex.cache import ReadThroughCache

            self.cache = ReadThroughCache(self, config.cache)
        #: pools inherited from the parent process, kept (never used, never closed) in a forked child.
        self._inherited: list[Pool] = []
        fork.register(self)

    # -- lookup -------------------------------------------------------------------------------

    @property
    def sources(self) -> Mapping[str, Source]:
        return {name: bound.source for name, bound in self._bound.items()}

    def backend(self, source: str) -> Backend:
        """The backend serving ``source`` (its name, capabilities and op types)."""
        return self._get(source).backend

    def _get(self, source: str) -> _Bound:
        try:
            return self._bound[source]
        except KeyError:
            known = ", ".join(sorted(self._bound)) or "none configured"
            raise ConfigError(f"unknown source {source!r} (configured: {known})") from None

    def pool(self, source: str) -> Pool:
        """The pool of ``source``, opening it if needed."""
        return self._get(source).primary.open()

    def capability_pools(self, source: str) -> tuple[Pool, Pool]:
        """What a capability of ``source`` draws connections from: its pool, and its admin pool
        (``SOURCE/admin``) for sessions outside the normal checkout. Both open on first use."""
        bound = self._get(source)
        return bound.primary, bound.admin

    def bound(self, source: str) -> BoundBackend:
        """The typed hook callers of ``source``'s backend: the one way to call a backend."""
        return self._get(source).bound

    # -- operations -----------------------------------------------------------------------------

    def execute(self, source: str, op: Op, *, read: bool | None = None) -> Result:
        """Run one op on a pooled connection of ``source``.

        When ``source`` has replicas, a read (``op.is_read``, or ``read=True`` for an op that
        only reads, such as a SELECT statement) goes to a replica; ``read=False`` forces the
        primary. A ``Get`` of a table in ``[cache]`` is served by the read-through cache, and a
        ``Put``, ``Update``, ``Delete`` or ``PutMany`` of one deletes its entries once the source has it.
        """
        cache = self.cache
        if cache is not None and source in cache.sources:
            return cache.execute(source, op, read)
        bound = self._bound.get(source) or self._get(source)
        if bound.router is None:  # no replicas: the primary, without another call (the hot path)
            return bound.primary.run(op)
        return self.execute_uncached(source, op, read=read)

    def execute_uncached(self, source: str, op: Op, *, read: bool | None = None) -> Result:
        """:meth:`execute` without the read-through cache: the source itself answers, and no
        cache entry is deleted."""
        bound = self._bound.get(source) or self._get(source)
        router = bound.router
        if router is None:
            return bound.primary.run(op)
        if op.is_read if read is None else read:
            return router.read(op)
        result = bound.primary.run(op)
        router.wrote()
        return result

    @contextmanager
    def connection(self, source: str) -> Iterator[Any]:
        """Check out ``source``'s native driver object from its pool for direct use."""
        with self.pool(source).connection() as conn:
            yield conn

    @contextmanager
    def transaction(self, source: str) -> Iterator[Transaction]:
        """Run several ops atomically: commit when the block ends, roll back if it raises. After
        the commit, the cache entries of the records its ``Put``, ``Update``, ``Delete`` and
        ``PutMany`` wrote are deleted."""
        bound = self._get(source)
        if "transactions" not in bound.backend.capabilities:
            raise UnsupportedError(f"source {source!r}: backend {bound.backend.name!r} has no transactions")
        with bound.primary.transaction() as conn:
            done = Transaction(bound, conn)
            yield done
        if bound.router is not None:
            bound.router.wrote()
        if self.cache is not None:
            self.cache.invalidate_written(source, done.written)

    # -- partitions -----------------------------------------------------------------------------

    def partitioner(self, source: str) -> Partitioner:
        """The partitioning backend of ``source`` (its plugin's ``dbplex_partition`` hook), made once."""
        found = self._partitioners.get(source)
        if found is None:
            bound = self._get(source)
            with bound.lock:
                found = self._partitioners.get(source)
                if found is None:
                    found = bound.bound.partitioner(bound.source, bound.primary, bound.admin)
                    self._partitioners[source] = found
        return found

    def migrator(self, source: str) -> Migrator:
        """A new migration backend of ``source`` (its plugin's ``dbplex_migrate`` hook), drawing
        sessions from the hub's pools; the caller closes it (:class:`~dbplex.migrate.Migrations` does)."""
        bound = self._get(source)
        return bound.bound.migrator(bound.source, bound.primary, bound.admin)

    def analyzer(self, source: str) -> Analyzer:
        """The analysis backend of ``source`` (its plugin's ``dbplex_analyze`` hook); no I/O until
        asked for findings, which it reads through the hub's pools."""
        bound = self._get(source)
        return bound.bound.analyzer(bound.source, bound.primary, bound.admin)

    def checker(self, source: str) -> Checker:
        """A new data-quality backend of ``source`` (its plugin's ``dbplex_check`` hook), reading
        through the hub's pools; each has its own read counter."""
        bound = self._get(source)
        return bound.bound.checker(bound.source, bound.primary, bound.admin)

    def describer(self, source: str) -> Describer:
        """The schema backend of ``source`` (its plugin's ``dbplex_describe`` hook), reading through
        the hub's pools: what ``dbplex schema diff`` compares."""
        bound = self._get(source)
        return bound.bound.describer(bound.source, bound.primary, bound.admin)

    def change_feed(self, source: str) -> ChangeFeed:
        """A new change feed of ``source`` (its plugin's ``dbplex_watch`` hook), drawing sessions
        from the hub's pools; the caller closes it. ``change_feed(s).install(table)`` starts
        recording ``table``'s changes."""
        bound = self._get(source)
        return bound.bound.change_feed(bound.source, bound.primary, bound.admin)

    def _watch(self, source: str, tables: list[str], after: str | None, limits: Limits) -> Watch:
        from dbplex.changes import Watch

        timeout, count = limits
        return Watch(self.change_feed(source), tables, after=after, timeout=timeout, count=count)

    def partitioned(self, spec: str | PartitionSpec) -> Partitioned:
        """A partitioned table, collection or key family: a ``[partitions.NAME]`` of the
        configuration, or a :class:`~dbplex.partition.PartitionSpec` built in code."""
        from dbplex.partition.api import Partitioned, configured

        spec = configured(self.config, spec)
        return Partitioned(spec, self.partitioner(spec.source))

    # -- observation ----------------------------------------------------------------------------

    def slow_operations(self) -> list[SlowEntry]:
        """The latest slow operations of this hub's sources, oldest first (see ``[sources.X.slow]``);
        empty when no source has a threshold."""
        return self.slow.entries() if self.slow is not None else []

    def slowlog(self, source: str) -> SlowLog:
        """What ``source``'s server keeps of its slow operations (its plugin's ``dbplex_slowlog`` hook)."""
        bound = self._get(source)
        return bound.bound.slowlog(bound.source, bound.primary, bound.admin)

    def health(self, sources: list[str] | None = None) -> Report:
        """Check sources concurrently; a check that outlasts its connect timeout (plus a second) is DOWN."""
        names = sources if sources is not None else list(self._bound)
        bounds = [self._get(n) for n in names]
        if not bounds:
            return aggregate([])
        executor = ThreadPoolExecutor(max_workers=min(len(bounds), 16), thread_name_prefix="dbplex-health")
        try:
            futures = [(bound, executor.submit(self._check, bound)) for bound in bounds]
            checks = [self._outcome(bound, future) for bound, future in futures]
        finally:
            executor.shutdown(wait=False)
        return aggregate(checks)

    @staticmethod
    def _outcome(bound: _Bound, future: Future[Health]) -> Health:
        limit = bound.source.config.connect_timeout + 1.0
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            return unanswered(bound.source, limit)

    def _check(self, bound: _Bound) -> Health:
        health = bound.primary.check()
        health.required = bound.source.config.required
        pool = bound.primary.pool
        if health.pool is None and pool is not None:
            health.pool = pool.stats()
        if bound.router is not None:
            health.replicas = [bound.router.check(replica) for replica in bound.router.replicas]
            if health.status is Status.UP and any(r.status is not Status.UP for r in health.replicas):
                health.status = Status.DEGRADED
        return health

    def pool_stats(self) -> dict[str, PoolStats]:
        """Stats of every pool opened so far, by name: the source's own, a replica's as
        ``source/replicaN``, the admin pool of capability sessions as ``source/admin``."""
        return {
            endpoint.name: endpoint.pool.stats()
            for bound in self._bound.values()
            for endpoint in bound.endpoints
            if endpoint.pool is not None
        }

    def resize(self, source: str, min_size: int, max_size: int) -> None:
        """Change the pool bounds of ``source`` (and of its replicas' pools) while it runs."""
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigError(f"source {source!r}: resize needs 0 <= min_size <= max_size and max_size >= 1")
        bound = self._get(source)
        bound.primary.resize(min_size, max_size)
        for replica in bound.router.replicas if bound.router is not None else []:
            if replica.pool is not None:
                replica.resize(min_size, max_size)

    # -- lifetime ---------------------------------------------------------------------------------

    def after_fork(self) -> None:
        """In a forked child: drop every pool without closing it (closing would end the parent's
        sessions on the shared sockets); the child opens pools of its own on first use. Migrators
        and partitioners hold the hub's endpoints, not pools, so they carry on in the child."""
        for bound in self._bound.values():
            self._inherited += bound.after_fork()

    def close(self) -> None:
        """Close every pool. The hub can be reopened lazily by further use."""
        if self.metrics is not None and self.plugins.manager.is_registered(self.metrics):
            self.plugins.manager.unregister(self.metrics)  # later hubs bind without it
        if self.slow is not None and self.plugins.manager.is_registered(self.slow):
            self.plugins.manager.unregister(self.slow)
        partitioners, self._partitioners = self._partitioners, {}
        for partitioner in partitioners.values():
            partitioner.close()
        for bound in self._bound.values():
            if bound.router is not None:
                bound.router.close()
            for endpoint in bound.endpoints:
                endpoint.close()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Hub(sources={sorted(self._bound)})"


def open(
    config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    plugins: Plugins | None = None,
) -> Hub:
    """Open every source described by ``config``.

    ``config`` is a :class:`~dbplex.config.Config`, a dict shaped like the TOML file, a path to
    a TOML file, or None to find ``$DBPLEX_CONFIG`` or ``./dbplex.toml``. ``plugins`` defaults
    to those installed (entry-point group ``dbplex``).
    """
    return Hub(config_mod.resolve(config), plugins if plugins is not None else plugins_mod.default())
