"""The per-operation part of metrics: ``dbplex_query`` and ``dbplex_async_query`` wrappers and the
histograms they fill (one set of series: an op counts the same whichever hub ran it)."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any
from urllib.parse import urlsplit

import msgspec

from dbplex.backends import Source
from dbplex.hookspecs import hookimpl

#: histogram bucket bounds in seconds: the ones the semantic conventions advise for
#: ``db.client.operation.duration``.
BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

#: ``db.system.name`` of dbplex's backends; another backend's name is used as it is.
SYSTEMS = {"pg": "postgresql", "mongo": "mongodb", "redis": "redis", "redis_cluster": "redis", "sqlite": "sqlite"}


class Attributes(msgspec.Struct, frozen=True):
    """What identifies one pool in every metric: ``db.client.connection.pool.name`` (the
    endpoint's name: ``SOURCE``, ``SOURCE/replicaN`` or ``SOURCE/admin``), ``db.system.name`` and
    ``db.namespace`` (the database named by the URL's path, empty when it names none)."""

    pool: str
    system: str
    namespace: str


def attributes(source: Source) -> Attributes:
    """The metric attributes of one endpoint's source."""
    url = source.config.url
    path = urlsplit(url).path.lstrip("/") if "://" in url else ""
    if source.backend == "sqlite":
        path = path.rsplit("/", 1)[-1]  # the file's name, not where it lives
    return Attributes(pool=source.name, system=SYSTEMS.get(source.backend, source.backend), namespace=path)


class Series(msgspec.Struct, kw_only=True):
    """One operation-duration histogram: an op type on one pool, with or without an error."""

    attributes: Attributes
    operation: str
    #: the exception's class name for a failed operation (``error.type``), else None.
    error_type: str | None
    count: int = 0
    #: seconds, summed.
    sum: float = 0.0
    #: per bucket of :data:`BUCKETS` (and one past the last), not cumulative.
    buckets: list[int] = msgspec.field(default_factory=lambda: [0] * (len(BUCKETS) + 1))


#: called with each recorded operation (attributes, op name, seconds, error type): an exporter's hook.
Listener = Callable[[Attributes, str, float, "str | None"], None]


class MetricsPlugin:
    """Wraps ``dbplex_query`` and records every operation of the sources it was given.

    It is registered on the process's plugin manager, which other hubs share, so it records only
    the sources (by identity) of the hub that made it; an operation of any other source passes
    through after two dictionary lookups.
    """

    def __init__(self) -> None:
        self._sources: dict[int, Attributes] = {}
        #: the watched sources themselves, kept alive so that their ids are never reused by another's.
        self._kept: list[Source] = []
        self._series: dict[tuple[Attributes, str, str | None], Series] = {}
        #: the successful operations' counts by (id(source), op type, thread): the hot path's one
        #: lookup. Each is updated by its own thread only, so without a lock and still exactly;
        #: :meth:`series` adds them to ``_series``'s (their ``count`` stays 0: the buckets hold it).
        #: A new thread usually gets a finished one's ident, so they stay about as many as the threads
        #: that ran at once.
        self._ok: dict[tuple[int, type, int], Series] = {}
        self._lock = threading.Lock()
        self.listeners: list[Listener] = []

    @hookimpl(wrapper=True)
    def dbplex_query(self, source: Source, conn: Any, op: Any) -> Generator[None, Any, Any]:
        started = time.perf_counter()
        try:
            result = yield
        except BaseException as exc:
            self.failed(source, op, time.perf_counter() - started, exc)
            raise
        self.succeeded(source, op, time.perf_counter() - started)
        return result

    def compose_dbplex_query(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        """What :meth:`dbplex_query` does, as a closure around ``inner`` (see ``plugins._direct``):
        the hot path binds this rather than a generator per operation."""
        ok, listeners, clock, bisect_left, thread = (
            self._ok,
            self.listeners,
            time.perf_counter,
            bisect.bisect_left,
            threading.get_ident,
        )

        def call(*, source: Source, conn: Any, op: Any) -> Any:
            started = clock()
            try:
                result = inner(source=source, conn=conn, op=op)
            except BaseException as exc:
                self.failed(source, op, clock() - started, exc)
                raise
            seconds = clock() - started
            series = ok.get((id(source), type(op), thread()))
            if series is None:
                self.succeeded(source, op, seconds)
                return result
            series.buckets[bisect_left(BUCKETS, seconds)] += 1  # this thread's own: no other writes it
            series.sum += seconds
            for listener in listeners:
                listener(series.attributes, series.operation, seconds, None)
            return result

        return call

    @hookimpl(wrapper=True)
    def dbplex_async_query(self, source: Source, conn: Any, op: Any) -> Generator[None, Any, Any]:
        running = yield
        return None if running is None else self._timed(source, op, running)

    def compose_dbplex_async_query(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        """:meth:`dbplex_async_query` as a closure around ``inner``, as :meth:`compose_dbplex_query`."""
        timed = self._timed

        def call(*, source: Source, conn: Any, op: Any) -> Any:
            running = inner(source=source, conn=conn, op=op)
            return None if running is None else timed(source, op, running)

        return call

    async def _timed(self, source: Source, op: Any, running: Awaitable[Any]) -> Any:
        """Await an async op and record it: from the await to its answer, a cancellation counting
        as a failure (``error.type`` CancelledError), as an exception does in sync mode."""
        started = time.perf_counter()
        try:
            result = await running
        except BaseException as exc:
            self.failed(source, op, time.perf_counter() - started, exc)
            raise
        self.succeeded(source, op, time.perf_counter() - started)
        return result

    def watch(self, sources: Iterable[Source]) -> None:
        """Record the operations of these sources (each endpoint's own ``Source``) from now on."""
        for source in sources:
            self._kept.append(source)
            self._sources[id(source)] = attributes(source)

    def succeeded(self, source: Source, op: Any, seconds: float) -> None:
        """Count one operation that returned, if ``source`` is one of this hub's."""
        attrs = self._sources.get(id(source))
        if attrs is None:
            return
        self._record(attrs, type(op).__name__, seconds, None)
        key = (id(source), type(op), threading.get_ident())
        if key not in self._ok:  # from now on this thread counts into a series of its own
            with self._lock:
                self._ok[key] = Series(attributes=attrs, operation=type(op).__name__, error_type=None)

    def failed(self, source: Source, op: Any, seconds: float, exc: BaseException) -> None:
        """Count one operation that raised ``exc``, if ``source`` is one of this hub's."""
        attrs = self._sources.get(id(source))
        if attrs is not None:
            self._record(attrs, type(op).__name__, seconds, type(exc).__name__)

    def _record(self, attrs: Attributes, operation: str, seconds: float, error_type: str | None) -> Series:
        key = (attrs, operation, error_type)
        index = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series(attributes=attrs, operation=operation, error_type=error_type)
            series.count += 1
            series.sum += seconds
            series.buckets[index] += 1
        for listener in self.listeners:
            listener(attrs, operation, seconds, error_type)
        return series

    def series(self) -> list[Series]:
        """A copy of every histogram so far (each thread's fast-path counts added in)."""
        with self._lock:
            merged = {key: msgspec.structs.replace(s, buckets=list(s.buckets)) for key, s in self._series.items()}
            shards = list(self._ok.values())
        for shard in shards:
            total = merged[(shard.attributes, shard.operation, None)]
            buckets = list(shard.buckets)  # counted from its buckets, so that the two agree mid-update
            total.count += sum(buckets)
            total.sum += shard.sum
            total.buckets = [a + b for a, b in zip(total.buckets, buckets, strict=True)]
        return list(merged.values())

    def attributes_of(self, source: Source) -> Attributes | None:
        """The attributes of one endpoint's ``source`` (None for a source not of this hub)."""
        return self._sources.get(id(source))

    def pool_attributes(self, pool: str) -> Attributes | None:
        """The attributes of the pool named ``pool`` (None for one not of this hub)."""
        for attrs in self._sources.values():
            if attrs.pool == pool:
                return attrs
        return None
