"""The hooks a dbplex plugin implements.

A backend plugin answers these for its own sources and returns None for any other; the core
binds each backend's hooks once (:class:`~dbplex.binding.BoundBackend`) to the plugins that
concern it, so in practice a backend is only asked about sources it registered a scheme for.
Cross-cutting plugins (metrics, tracing, retries, caches) wrap ``dbplex_query``, ``dbplex_pool``
and ``dbplex_health`` with ``@hookimpl(wrapper=True)``.

The hub owns every connection: ``dbplex_pool`` is called for each of a source's pools — its own,
each replica's (``source.role == "replica"``) and its admin pool (``"admin"``: capability
sessions, no operation timeout) — and the capability hooks receive those pools rather than
opening connections of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from dbplex.aio.pool import AsyncPool
    from dbplex.analyze.model import Analyzer
    from dbplex.backends import Backend, Source
    from dbplex.bench.aio_baseline import AsyncBaseline
    from dbplex.bench.baseline import Baseline
    from dbplex.changes.feed import AsyncChangeFeed, ChangeFeed
    from dbplex.check.backend import Checker
    from dbplex.health import Health
    from dbplex.migrate.backend import Migrator
    from dbplex.ops import Op
    from dbplex.partition.backend import AsyncPartitionReader, Partitioner
    from dbplex.pool import Pool
    from dbplex.pooling.connector import AsyncConnector, Connector
    from dbplex.result import Result
    from dbplex.schema.model import Describer
    from dbplex.slowlog.model import SlowLog

PROJECT = "dbplex"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def dbplex_register_backends(register: Callable[[Backend], None]) -> None:
    """Declare the backends this plugin provides.

    :param register: call once per backend with a :class:`~dbplex.backends.Backend` naming its
        URL schemes, capabilities, version and own op types.
    """


@hookspec(firstresult=True)
def dbplex_connect(source: Source) -> Connector[Any]:
    """Return the :class:`~dbplex.pooling.Connector` through which dbplex's pool opens, checks,
    resets and closes ``source``'s native connections. No I/O here.

    Its ``open()`` must give up within ``source.config.connect_timeout`` and raise
    :class:`~dbplex.errors.SourceUnavailable` naming the source (never the password). A backend
    whose driver pools internally (pymongo's MongoClient) does not implement this hook, and
    implements ``dbplex_pool`` instead.

    :param source: the configured source.
    """


@hookspec(firstresult=True)
def dbplex_pool(source: Source, connector: Connector[Any] | None) -> Pool:
    """Create the connection pool for ``source`` from ``source.config.pool``.

    Called once per pool, on its first use, after ``dbplex_connect``: for the source itself, for
    each replica (a ``Source`` named ``SOURCE/replicaN`` with the replica's URL,
    ``role="replica"``) and for the admin pool (``SOURCE/admin``, ``role="admin"``: at most a few
    connections, which must not carry the operation timeout). A backend with a connector returns
    ``dbplex.pooling.ConnectorPool(source, connector)`` (a plugin made by
    :func:`~dbplex.backend_plugin.backend_plugin` with ``connect=`` does so without a ``pool=``
    target); a backend whose driver pools internally returns its own :class:`~dbplex.pool.Pool`
    and gets ``connector=None``. Either way wrappers of this hook see every pool.

    :param source: the configured source (or the replica's or admin pool's derived one).
    :param connector: what ``dbplex_connect`` returned, or None when no plugin implements it.
    """


@hookspec(firstresult=True)
def dbplex_query(source: Source, conn: Any, op: Op) -> Result:
    """Run ``op`` on the checked-out native connection ``conn`` and return its result.

    Raise :class:`~dbplex.errors.UnsupportedError` for an op type the backend does not know.

    :param source: the configured source.
    :param conn: what ``Pool.connection()`` or ``Pool.transaction()`` yielded.
    :param op: a uniform op (:mod:`dbplex.ops`) or one of the backend's own.
    """


@hookspec(firstresult=True)
def dbplex_migrate(source: Source, pool: Pool, admin: Pool) -> Migrator:
    """Return the migration backend of ``source``: a :class:`~dbplex.migrate.Migrator`.

    A factory: the core plans, validates, orders locks and writes history rows; the migrator
    provides the database's part (history store, lock, step execution and transaction modes,
    dry-run rendering). Every connection it uses comes from the two pools the hub passes, which
    open on first use (so no I/O here) and show in ``pool_stats()``; it opens none of its own.
    ``close()`` gives back what it still holds; the pools themselves are the hub's, never closed
    by the migrator.

    :param source: the configured source.
    :param pool: the source's pool, for ordinary checkouts.
    :param admin: the source's admin pool (``SOURCE/admin``, a few connections without the
        operation timeout): for a session held outside the normal checkout, such as the
        migration lock's or the one steps run on.
    """


@hookspec(firstresult=True)
def dbplex_health(source: Source, pool: Pool) -> Health:
    """Check ``source`` through ``pool``: reachability, server version, role.

    Raise or return DOWN when unreachable; the core measures latency and bounds the wait.

    :param source: the configured source.
    :param pool: the source's pool, for a checkout and its stats.
    """


@hookspec(firstresult=True)
def dbplex_partition(source: Source, pool: Pool, admin: Pool) -> Partitioner:
    """Return the partitioning backend of ``source``: a :class:`~dbplex.partition.Partitioner`.

    A factory like ``dbplex_migrate``: the core owns specs, layouts, plans, the maintenance lock
    and the merge of cross-partition queries; the partitioner inspects what the database holds,
    renders and applies each action, and reads one partition. Made once per hub, no I/O here;
    its connections come from ``pool`` and ``admin`` as for ``dbplex_migrate``.

    :param source: the configured source.
    :param pool: the source's pool, for ordinary checkouts.
    :param admin: the source's admin pool, for sessions outside the normal checkout: the
        maintenance lock's, DDL outside a transaction, ``CREATE INDEX CONCURRENTLY``.
    """


@hookspec(firstresult=True)
def dbplex_analyze(source: Source, pool: Pool, admin: Pool) -> Analyzer:
    """Return the analysis backend of ``source``: an :class:`~dbplex.analyze.Analyzer`.

    A factory like ``dbplex_migrate``, no I/O here: ``dbplex analyze`` asks it for findings
    (evidence, severity, recommended action) read from the database's own statistics, and for
    each proposed index the migration that creates it. Catalog reads go through ``admin``.

    :param source: the configured source.
    :param pool: the source's pool, for ordinary checkouts.
    :param admin: the source's admin pool, for catalog and statistics reads outside the
        operation timeout.
    """


@hookspec(firstresult=True)
def dbplex_slowlog(source: Source, pool: Pool, admin: Pool) -> SlowLog:
    """Return what ``source``'s server keeps of its slow operations: a :class:`~dbplex.slowlog.SlowLog`.

    A factory like ``dbplex_migrate``, no I/O here: ``dbplex slowlog`` asks it for the slowest
    entries (PostgreSQL ``pg_stat_statements``, the MongoDB profiler, Redis ``SLOWLOG``), which
    the core merges across sources. Reads go through ``admin``.

    :param source: the configured source.
    :param pool: the source's pool, for ordinary checkouts.
    :param admin: the source's admin pool, for statistics reads outside the operation timeout.
    """


@hookspec(firstresult=True)
def dbplex_check(source: Source, pool: Pool, admin: Pool) -> Checker:
    """Return the data-quality backend of ``source``: a :class:`~dbplex.check.backend.Checker`.

    A factory like ``dbplex_migrate``, no I/O here: ``dbplex check`` asks it to stream a table's
    rows in batches, look keys up, count, and checksum key ranges (in SQL or an aggregation where
    the server can), and to evaluate a rule on the server when it can; core compares and reports.
    Reads go through ``pool``.

    :param source: the configured source.
    :param pool: the source's pool, for ordinary checkouts.
    :param admin: the source's admin pool, for long reads outside the operation timeout.
    """


@hookspec(firstresult=True)
def dbplex_describe(source: Source, pool: Pool, admin: Pool) -> Describer:
    """Return the schema backend of ``source``: a :class:`~dbplex.schema.model.Describer`.

    A factory like ``dbplex_migrate``, no I/O here: ``dbplex schema diff`` asks it for a table's,
    collection's or key family's shape (fields in the portable type set, from the catalog, a
    validator or sampled records) and for the migration that gives a table fields it lacks.
    Reads go through ``pool``.

    :param source: the configured source.
    :param pool: the source's pool, for ordinary checkouts.
    :param admin: the source's admin pool, for catalog reads outside the operation timeout.
    """


@hookspec(firstresult=True)
def dbplex_watch(source: Source, pool: Pool, admin: Pool) -> ChangeFeed:
    """Return the change feed of ``source``: a :class:`~dbplex.changes.ChangeFeed`.

    A factory like ``dbplex_migrate``, no I/O here: ``hub.watch`` and ``dbplex watch`` ask it
    for the changes of some tables after a stored position (at least once), and ``dbplex watch
    --install`` to start recording a table's changes. A session held while waiting for changes
    (PostgreSQL's LISTEN) comes from ``admin`` and goes back on ``close()``.

    :param source: the configured source.
    :param pool: the source's pool, for ordinary checkouts.
    :param admin: the source's admin pool, for the session that waits for changes.
    """


@hookspec(firstresult=True)
def dbplex_bench_baseline(source: Source, pool_size: int) -> Baseline:
    """Provide the raw-driver baseline that ``dbplex bench`` compares dbplex against.

    Return a :class:`~dbplex.bench.baseline.Baseline` that does the uniform record ops with the
    driver alone, as a careful user would, on the backend's own storage layout, through a pool of
    ``pool_size`` connections. Import the driver inside the hook. ``close()`` is called after use.

    :param source: the configured source.
    :param pool_size: connections the baseline's pool keeps (the same as dbplex's pool in the run).
    """


# -- asyncio (dbplex.open_async): optional; a backend without them is refused by the async hub ----


@hookspec(firstresult=True)
def dbplex_async_connect(source: Source) -> AsyncConnector[Any]:
    """Return the :class:`~dbplex.pooling.connector.AsyncConnector` through which dbplex's asyncio
    pool opens, checks, resets and closes ``source``'s native async connections. No I/O here.

    A backend whose async driver pools internally implements ``dbplex_async_pool`` instead.

    :param source: the configured source.
    """


@hookspec(firstresult=True)
def dbplex_async_pool(source: Source, connector: AsyncConnector[Any] | None) -> AsyncPool:
    """Create the asyncio pool of ``source`` (no I/O: the hub awaits its ``open()``).

    A backend with an async connector returns
    ``dbplex.pooling.async_pool.AsyncConnectorPool(source, connector)`` (``backend_plugin``'s
    ``async_connect=`` does); one whose driver pools internally returns its own
    :class:`~dbplex.aio.AsyncPool` and gets ``connector=None``.

    :param source: the configured source.
    :param connector: what ``dbplex_async_connect`` returned, or None.
    """


@hookspec(firstresult=True)
def dbplex_async_query(source: Source, conn: Any, op: Op) -> Awaitable[Result]:
    """Return an awaitable running ``op`` on the checked-out native async connection ``conn``: the
    same op, planned by the same pure planner as ``dbplex_query``, with the same Result and errors.

    :param source: the configured source.
    :param conn: what ``AsyncPool.connection()`` or ``AsyncPool.transaction()`` yielded.
    :param op: a uniform op or one of the backend's own.
    """


@hookspec(firstresult=True)
def dbplex_async_health(source: Source, pool: AsyncPool) -> Awaitable[Health]:
    """Return an awaitable checking ``source`` through ``pool``, as ``dbplex_health`` does.

    :param source: the configured source.
    :param pool: the source's asyncio pool.
    """


@hookspec(firstresult=True)
def dbplex_async_bench_baseline(source: Source, pool_size: int) -> AsyncBaseline:
    """Return ``dbplex bench run --async``'s raw async-driver baseline for ``source`` (no I/O
    here: the benchmark awaits its ``open()``), as ``dbplex_bench_baseline`` does for threads.

    :param source: the configured source.
    :param pool_size: connections the baseline's pool keeps (the same as dbplex's pool in the run).
    """


@hookspec(firstresult=True)
def dbplex_async_partition(source: Source) -> AsyncPartitionReader:
    """Return the :class:`~dbplex.partition.backend.AsyncPartitionReader` through which
    ``await async_hub.partitioned(name).query(...)`` lists and reads ``source``'s partitions, on
    connections the async hub lends it. Made once per async hub, no I/O here.

    :param source: the configured source.
    """


@hookspec(firstresult=True)
def dbplex_async_watch(source: Source) -> AsyncChangeFeed:
    """Return the :class:`~dbplex.changes.feed.AsyncChangeFeed` through which
    ``async for change in async_hub.watch(...)`` reads ``source``'s changes, on connections the
    async hub lends it: the same positions and changes as ``dbplex_watch``'s feed. No I/O here.

    :param source: the configured source.
    """
