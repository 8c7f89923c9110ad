"""One typed way to call a backend, and the endpoints every connection of a source goes through.

The hub binds each backend's hooks once (:class:`BoundBackend`): every caller — the hub, the
router, migrations, partitioning and the benchmark — goes through its typed methods, so a hook
wrapper (``@hookimpl(wrapper=True)``) sees every call and there is one place that turns "no
implementation answered" into an error.

An :class:`Endpoint` is one pool of a source with what the hub tracks about it: its role
(``primary``, ``replica`` or ``admin``), its breaker (replicas), its in-flight count and
latency. Primary and replicas run ops the same way; the router only chooses among them. The
``admin`` endpoint is the sibling pool a capability draws sessions from that must stay outside
the normal checkout (a lock held for a whole run, DDL outside a transaction, ``CREATE INDEX
CONCURRENTLY``): it holds at most :data:`ADMIN_MAX_SIZE` connections, opens on first use and
shows in ``pool_stats()`` as ``SOURCE/admin``. An endpoint satisfies the :class:`~dbplex.pool.Pool`
protocol and opens its pool lazily, so capability factories receive endpoints without any I/O,
and after a fork they keep working on the child's own pools.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec

from dbplex.backends import Backend, Role, Source
from dbplex.errors import DbplexError, UnsupportedError
from dbplex.health import Health, Status
from dbplex.secrets import scrub

if TYPE_CHECKING:
    from dbplex.aio.pool import AsyncPool
    from dbplex.analyze.model import Analyzer
    from dbplex.bench.aio_baseline import AsyncBaseline
    from dbplex.bench.baseline import Baseline
    from dbplex.changes.feed import AsyncChangeFeed, ChangeFeed
    from dbplex.check.backend import Checker
    from dbplex.migrate.backend import Migrator
    from dbplex.ops import Op
    from dbplex.partition.backend import AsyncPartitionReader, Partitioner
    from dbplex.pool import Pool, PoolStats
    from dbplex.pooling.connector import AsyncConnector, Connector
    from dbplex.result import Result
    from dbplex.routing.breaker import Breaker
    from dbplex.schema.model import Describer
    from dbplex.slowlog.model import SlowLog

#: connections an admin pool keeps at most: a lock session, a step's or a DDL's session, and a few
#: catalog reads in parallel. Independent of ``pool.max_size``, so a source with a pool of one can
#: still hold a lock while it runs DDL.
ADMIN_MAX_SIZE = 4

_Capability = TypeVar("_Capability", covariant=True)
_T = TypeVar("_T")


# -- the hooks, as callables of known types -----------------------------------------------------


class ConnectHook(Protocol):
    def __call__(self, *, source: Source) -> Connector[Any] | None: ...


class PoolHook(Protocol):
    def __call__(self, *, source: Source, connector: Connector[Any] | None) -> Pool | None: ...


class QueryHook(Protocol):
    def __call__(self, *, source: Source, conn: Any, op: Op) -> Result | None: ...


class HealthHook(Protocol):
    def __call__(self, *, source: Source, pool: Pool) -> Health | None: ...


class CapabilityHook(Protocol[_Capability]):
    """A capability factory hook (``dbplex_migrate``, ``dbplex_analyze``, ...): given the pools, its object or None."""

    def __call__(self, *, source: Source, pool: Pool, admin: Pool) -> _Capability | None: ...


class BaselineHook(Protocol):
    def __call__(self, *, source: Source, pool_size: int) -> Baseline | None: ...


class AsyncConnectHook(Protocol):
    def __call__(self, *, source: Source) -> AsyncConnector[Any] | None: ...


class AsyncPoolHook(Protocol):
    def __call__(self, *, source: Source, connector: AsyncConnector[Any] | None) -> AsyncPool | None: ...


class AsyncQueryHook(Protocol):
    def __call__(self, *, source: Source, conn: Any, op: Op) -> Awaitable[Result] | None: ...


class AsyncHealthHook(Protocol):
    def __call__(self, *, source: Source, pool: AsyncPool) -> Awaitable[Health] | None: ...


class AsyncBaselineHook(Protocol):
    def __call__(self, *, source: Source, pool_size: int) -> AsyncBaseline | None: ...


class AsyncCapabilityHook(Protocol[_Capability]):
    """An async hub's reader factory (``dbplex_async_partition``, ``dbplex_async_watch``): its object or None."""

    def __call__(self, *, source: Source) -> _Capability | None: ...


class AsyncBound:
    """A backend's asyncio hooks (``dbplex_async_*``), bound once: what the async hub calls.

    Present on a :class:`BoundBackend` only when the backend's plugin implements
    ``dbplex_async_query``; the async hub refuses a source whose backend has none.
    """

    __slots__ = ("_baseline", "_connect", "_health", "_partition", "_pool", "_watch", "run")

    def __init__(
        self,
        *,
        connect: AsyncConnectHook,
        pool: AsyncPoolHook,
        query: AsyncQueryHook,
        health: AsyncHealthHook,
        bench_baseline: AsyncBaselineHook,
        partition: AsyncCapabilityHook[AsyncPartitionReader],
        watch: AsyncCapabilityHook[AsyncChangeFeed],
    ) -> None:
        #: the query hook itself: returns the awaitable of a Result, or None when no plugin answers.
        self.run = query
        self._connect = connect
        self._pool = pool
        self._health = health
        self._baseline = bench_baseline
        self._partition = partition
        self._watch = watch

    def pool(self, source: Source) -> AsyncPool:
        """A new (unopened) asyncio pool: ``dbplex_async_pool`` given ``dbplex_async_connect``'s connector."""
        created = self._pool(source=source, connector=self._connect(source=source))
        if created is None:
            raise UnsupportedError(
                f"source {source.name!r}: backend {source.backend!r} has no asyncio pool "
                "(its plugin implements neither dbplex_async_connect nor dbplex_async_pool)"
            )
        return created

    def health(self, source: Source, pool: AsyncPool) -> Awaitable[Health] | None:
        """The awaitable of the backend's async health check, or None when it has none."""
        return self._health(source=source, pool=pool)

    def baseline(self, source: Source, pool_size: int) -> AsyncBaseline | None:
        """The raw async-driver baseline ``dbplex bench run --async`` compares against (unopened),
        or None when there is none."""
        return self._baseline(source=source, pool_size=pool_size)

    def partition_reader(self, source: Source) -> AsyncPartitionReader:
        """The backend's async partition reader (``dbplex_async_partition``)."""
        return _made(self._partition, source, "asyncio partitioned queries", "dbplex_async_partition")

    def change_feed(self, source: Source) -> AsyncChangeFeed:
        """The backend's async change feed (``dbplex_async_watch``)."""
        return _made(self._watch, source, "asyncio change feed", "dbplex_async_watch")


def _made(hook: AsyncCapabilityHook[_T], source: Source, what: str, name: str) -> _T:
    """What ``hook`` makes for ``source``; an :class:`UnsupportedError` naming the hook when no plugin answers."""
    made = hook(source=source)
    if made is None:
        raise UnsupportedError(
            f"source {source.name!r}: backend {source.backend!r} has no {what} "
            f"(its plugin implements no {name} hook); use dbplex.open() for it"
        )
    return made


class BoundBackend:
    """A backend's hook callers (its own plugin's plus cross-cutting ones), bound once, typed.

    ``None`` from a hook means no plugin implements it for this backend: said here, once, as an
    :class:`~dbplex.errors.UnsupportedError` naming the source and the missing hook.
    """

    __slots__ = (
        "_analyze",
        "_baseline",
        "_check",
        "_connect",
        "_describe",
        "_health",
        "_migrate",
        "_partition",
        "_pool",
        "_slowlog",
        "_watch",
        "aio",
        "backend",
        "run",
    )

    def __init__(
        self,
        backend: Backend,
        *,
        connect: ConnectHook,
        pool: PoolHook,
        query: QueryHook,
        health: HealthHook,
        migrate: CapabilityHook[Migrator],
        partition: CapabilityHook[Partitioner],
        analyze: CapabilityHook[Analyzer],
        check: CapabilityHook[Checker],
        describe: CapabilityHook[Describer],
        bench_baseline: BaselineHook,
        slowlog: CapabilityHook[SlowLog],
        watch: CapabilityHook[ChangeFeed],
        aio: AsyncBound | None = None,
    ) -> None:
        self.backend = backend
        #: the asyncio hooks; None when the backend's plugin has no async executor.
        self.aio = aio
        #: the query hook itself (the hot path calls it without a method in between; None = no answer).
        self.run = query
        self._connect = connect
        self._pool = pool
        self._health = health
        self._migrate = migrate
        self._partition = partition
        self._analyze = analyze
        self._baseline = bench_baseline
        self._slowlog = slowlog
        self._check = check
        self._describe = describe
        self._watch = watch

    def _missing(self, source: Source, what: str, hook: str) -> UnsupportedError:
        return UnsupportedError(
            f"source {source.name!r}: backend {self.backend.name!r} has no {what} (its plugin implements no {hook} hook)"
        )

    def _capability(
        self, hook: CapabilityHook[_T], source: Source, pool: Pool, admin: Pool, what: str, name: str
    ) -> _T:
        """Call a capability factory hook; none answering is an :class:`UnsupportedError` naming ``name``."""
        found = hook(source=source, pool=pool, admin=admin)
        if found is None:
            raise self._missing(source, what, name)
        return found

    def query(self, source: Source, conn: Any, op: Op) -> Result:
        """Run ``op`` on the checked-out ``conn``."""
        result = self.run(source=source, conn=conn, op=op)
        if result is None:
            raise self.unsupported(source, op)
        return result

    def unsupported(self, source: Source, op: Op) -> UnsupportedError:
        return UnsupportedError(
            f"source {source.name!r}: backend {self.backend.name!r} does not run {type(op).__name__} ops"
        )

    def connector(self, source: Source) -> Connector[Any] | None:
        """The backend's connector (``dbplex_connect``); None when its driver pools internally."""
        return self._connect(source=source)

    def pool(self, source: Source) -> Pool:
        """A new pool for ``source``: ``dbplex_pool`` given the connector ``dbplex_connect`` returned."""
        created = self._pool(source=source, connector=self._connect(source=source))
        if created is None:
            raise self._missing(source, "pool", "dbplex_pool")
        return created

    def health(self, source: Source, pool: Pool) -> Health | None:
        """The backend's health check, or None when it has none."""
        return self._health(source=source, pool=pool)

    def migrator(self, source: Source, pool: Pool, admin: Pool) -> Migrator:
        return self._capability(self._migrate, source, pool, admin, "migrations", "dbplex_migrate")

    def partitioner(self, source: Source, pool: Pool, admin: Pool) -> Partitioner:
        return self._capability(self._partition, source, pool, admin, "partitioning", "dbplex_partition")

    def analyzer(self, source: Source, pool: Pool, admin: Pool) -> Analyzer:
        return self._capability(self._analyze, source, pool, admin, "analyzer", "dbplex_analyze")

    def slowlog(self, source: Source, pool: Pool, admin: Pool) -> SlowLog:
        return self._capability(self._slowlog, source, pool, admin, "server-side slow log", "dbplex_slowlog")

    def checker(self, source: Source, pool: Pool, admin: Pool) -> Checker:
        return self._capability(self._check, source, pool, admin, "data-quality checks", "dbplex_check")

    def describer(self, source: Source, pool: Pool, admin: Pool) -> Describer:
        return self._capability(self._describe, source, pool, admin, "schema description", "dbplex_describe")

    def change_feed(self, source: Source, pool: Pool, admin: Pool) -> ChangeFeed:
        return self._capability(self._watch, source, pool, admin, "change feed", "dbplex_watch")

    def baseline(self, source: Source, pool_size: int) -> Baseline | None:
        """The raw-driver baseline ``dbplex bench`` compares against, or None when there is none."""
        return self._baseline(source=source, pool_size=pool_size)


# -- endpoints ------------------------------------------------------------------------------------


def unchecked(source: Source) -> Health:
    """The health of a source whose backend has no health check."""
    return Health(
        source=source.name, backend=source.backend, status=Status.UNKNOWN, error="backend has no health check"
    )


def unanswered(source: Source, limit: float) -> Health:
    """A health check that outlasted ``limit`` seconds: DOWN."""
    return Health(
        source=source.name,
        backend=source.backend,
        status=Status.DOWN,
        required=source.config.required,
        latency_ms=limit * 1000,
        error=f"source {source.name!r}: no answer within {limit:g}s",
    )


def failed(source: Source, exc: Exception) -> Health:
    """A health check that raised: DOWN with the error (a dbplex error's message, else its type too), scrubbed."""
    message = str(exc) if isinstance(exc, DbplexError) else f"{type(exc).__name__}: {exc}"
    return Health(source=source.name, backend=source.backend, status=Status.DOWN, error=scrub(message))


def derived(source: Source, role: Role, name: str, url: str | None = None) -> Source:
    """The :class:`Source` named ``name`` of one of ``source``'s endpoints: a replica (its own
    ``url``) or the admin pool (a few connections, no leak threshold)."""
    config = msgspec.structs.replace(source.config, replicas=[], url=url or source.config.url)
    if role == "admin":
        pool = msgspec.structs.replace(
            config.pool,
            min_size=0,
            max_size=ADMIN_MAX_SIZE,
            max_waiting=0,
            leak_threshold=0.0,  # a lock session is held for a whole run on purpose
        )
        config = msgspec.structs.replace(config, pool=pool)
    return Source(name=name, backend=source.backend, config=config, options=source.options, role=role)


class Endpoint:
    """One pool of a source — the primary's, a replica's or the admin one — opened on first use.

    It satisfies :class:`~dbplex.pool.Pool` (opening the pool on first need), which is how the
    hub hands its pools to capabilities without opening them. The hub closes it; a capability
    must not.
    """

    __slots__ = (
        "_flight",
        "_query",
        "backend",
        "breaker",
        "in_flight",
        "lag_seconds",
        "latency_ms",
        "lock",
        "pool",
        "role",
        "source",
    )

    def __init__(self, source: Source, backend: BoundBackend, breaker: Breaker) -> None:
        self.source = source
        self.role: Role = source.role
        self.backend = backend
        self._query = backend.run  # the hot path's hook, one attribute away
        #: opened by failed reads and checks; the router skips a replica whose breaker is open (the
        #: primary's is never consulted: reads fall back to it whatever its state).
        self.breaker = breaker
        self.pool: Pool | None = None
        #: guards opening the pool: one endpoint's slow connect does not hold up the others.
        self.lock = threading.Lock()
        self._flight = threading.Lock()
        self.in_flight = 0
        #: moving average of routed reads' latency (replicas).
        self.latency_ms = 0.0
        #: the lag the last health check reported; None when unknown.
        self.lag_seconds: float | None = None

    @property
    def name(self) -> str:
        return self.source.name

    def open(self) -> Pool:
        """The endpoint's pool, created by the backend's ``dbplex_pool`` hook on first call."""
        pool = self.pool
        if pool is not None:
            return pool
        with self.lock:
            if self.pool is None:
                self.pool = self.backend.pool(self.source)
            return self.pool

    def run(self, op: Op) -> Result:
        """Check a connection out and run ``op`` on it: the hot path of every read and write."""
        source = self.source
        with (self.pool or self.open()).connection() as conn:
            result = self._query(source=source, conn=conn, op=op)
        if result is None:
            raise self.backend.unsupported(source, op)
        return result

    def enter(self) -> None:
        with self._flight:
            self.in_flight += 1

    def leave(self) -> None:
        with self._flight:
            self.in_flight -= 1

    def check(self) -> Health:
        """One health check through the backend's hook; failures are reported, not raised.

        Its latency is one check on an open connection: when the pool holds none yet, a first
        check opens one and its time is reported as ``connect_ms``, and a second one is timed.
        """
        pool = self.pool
        fresh = pool is None or pool.stats().size == 0
        started = time.perf_counter()
        health = self._probe()
        if fresh and health.status is not Status.DOWN:
            connect_ms = round((time.perf_counter() - started) * 1000, 3)
            started = time.perf_counter()
            health = self._probe()
            health.connect_ms = connect_ms
        health.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        return health

    def _probe(self) -> Health:
        source = self.source
        try:
            return self.backend.health(source, self.pool or self.open()) or unchecked(source)
        except Exception as exc:  # a health check reports failures, it does not raise them
            return failed(source, exc)

    # -- the Pool protocol, for capabilities --------------------------------------------------------

    def connection(self) -> AbstractContextManager[Any]:
        return (self.pool or self.open()).connection()

    def transaction(self) -> AbstractContextManager[Any]:
        return (self.pool or self.open()).transaction()

    def stats(self) -> PoolStats:
        return (self.pool or self.open()).stats()

    def resize(self, min_size: int, max_size: int) -> None:
        pool = self.open()
        resize = getattr(pool, "resize", None)  # a third-party pool may predate Pool.resize
        if resize is None:
            raise UnsupportedError(
                f"source {self.source.name!r}: backend {self.source.backend!r} cannot resize its pool"
            )
        resize(min_size, max_size)

    # -- lifetime -------------------------------------------------------------------------------------

    def after_fork(self) -> Pool | None:
        """In a forked child: new locks (a parent thread may have held them at fork()) and no pool;
        the inherited pool is returned, not closed (closing would end the parent's sessions)."""
        self.lock, self._flight = threading.Lock(), threading.Lock()
        self.breaker.after_fork()
        pool, self.pool = self.pool, None
        return pool

    def close(self) -> None:
        """Close the pool; the endpoint reopens it on further use."""
        with self.lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()

    def __repr__(self) -> str:
        return f"Endpoint({self.source.name!r}, role={self.role!r})"


class Held:
    """One checkout of a pool kept across calls until :meth:`release`: a migrator's session, or a
    lock's, which must stay the same connection for as long as the lock is held."""

    __slots__ = ("_connect", "_stack", "conn")

    def __init__(self, connect: Callable[[], AbstractContextManager[Any]]) -> None:
        #: checks a connection out (a pool's ``connection``, or a backend's narrower checkout).
        self._connect = connect
        self._stack: ExitStack | None = None
        #: the checked-out connection; None while nothing is held.
        self.conn: Any = None

    @property
    def held(self) -> bool:
        return self._stack is not None

    def get(self) -> Any:
        """The held connection, checked out on first call."""
        if self._stack is None:
            stack = ExitStack()
            self.conn = stack.enter_context(self._connect())
            self._stack = stack
        return self.conn

    def release(self) -> None:
        """Give the connection back to its pool (which replaces it if it broke)."""
        stack, self._stack, self.conn = self._stack, None, None
        if stack is not None:
            stack.close()
