"""``dbplex bench run --async``: one phase on N coroutines of one event loop (uvloop when installed).

The coroutines' loops are the threaded worker's (:mod:`dbplex.bench.worker`) with ``await`` in
the timed call, and they record into the same histograms, so a ``--async`` run's results read
like a threaded one's. The dbplex side is an :class:`~dbplex.AsyncHub`, the raw side the
backend's ``dbplex_async_bench_baseline``; each target runs all its phases on one loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from contextlib import asynccontextmanager
from time import perf_counter_ns
from typing import Any, TypeVar

import msgspec

from dbplex.aio.hub import AsyncHub, open_async
from dbplex.bench import poolwait
from dbplex.bench.aio_baseline import AsyncBaseline
from dbplex.bench.aio_client import AsyncDbplexClient
from dbplex.bench.engine import Meter, Outcome, PhaseSpec, outcome
from dbplex.bench.generators import InsertCounter
from dbplex.bench.recorder import Recorder
from dbplex.bench.stream import OpStream, insert_counter, load_keys, stream_rng
from dbplex.bench.targets import pooled
from dbplex.bench.worker import Call, Tally, split
from dbplex.bench.workload import Workload
from dbplex.config import Config
from dbplex.errors import UnsupportedError

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on a new event loop: uvloop's when it is installed, else asyncio's."""
    if importlib.util.find_spec("uvloop") is not None:
        loop = importlib.import_module("uvloop").new_event_loop()
        try:
            result: T = loop.run_until_complete(main)
            loop.run_until_complete(loop.shutdown_asyncgens())
            return result
        finally:
            loop.close()
    return asyncio.run(main)


def loop_name() -> str:
    """Which event loop :func:`run_loop` uses, for reports."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


class AsyncWorker(Tally):
    """One coroutine's loops: :class:`dbplex.bench.worker.Worker`'s, awaiting the client."""

    def __init__(self, client: AsyncBaseline, recorder: Recorder, stop: threading.Event) -> None:
        super().__init__(recorder, stop)
        self.client = client

    async def _run(self, calls: Iterator[Call]) -> None:
        for rec, units, call, args in calls:
            started = perf_counter_ns()
            try:
                await call(*args)
            except Exception as exc:
                self._failed(rec, exc)
            else:
                self._succeeded(rec, started, units)

    async def load(self, table: str, keys: list[str], stream: OpStream, batch: int) -> None:
        await self._run(self._loads(self.client, table, keys, stream, batch))

    async def closed_loop(self, stream: OpStream, count: int, counter: InsertCounter) -> None:
        await self._run(self._ops(self.client, stream, count, counter))


async def run_phase(
    spec: PhaseSpec,
    workload: Workload,
    client: AsyncBaseline,
    *,
    pool_wait: Callable[[], poolwait.Snapshot] | None = None,
    counter: InsertCounter | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Run ``spec`` on ``spec.threads`` coroutines sharing ``client``, closed loop."""
    if spec.target_rate is not None and spec.phase != "load":
        raise UnsupportedError("dbplex bench run --async runs closed loop only: leave out --target")
    counter = counter or insert_counter(workload, spec.process, spec.processes)
    stop = threading.Event()
    workers = [AsyncWorker(client, Recorder(open_loop=False), stop) for _ in range(spec.threads)]
    streams = [OpStream(workload, counter, stream_rng(workload.seed, spec.phase, 0, t)) for t in range(spec.threads)]
    counts = split(spec.ops, spec.threads)

    def body(t: int) -> Coroutine[Any, Any, None]:
        if spec.phase == "load":
            keys = load_keys(workload, t, spec.threads)
            return workers[t].load(workload.table, keys, streams[t], workload.insertbatchsize)
        return workers[t].closed_loop(streams[t], counts[t], counter)

    loop = asyncio.get_running_loop()
    timer = loop.call_later(spec.max_seconds, stop.set) if spec.max_seconds and spec.phase != "load" else None
    meter = Meter(pool_wait)
    started_ns = perf_counter_ns()
    tasks = [loop.create_task(body(t)) for t in range(spec.threads)]
    interrupted = False
    try:
        while True:
            done, _ = await asyncio.wait(tasks, timeout=0.1)
            if progress is not None:
                progress(sum(w.done for w in workers))
            if len(done) == len(tasks):
                break
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
        stop.set()
        await asyncio.wait(tasks)
    finally:
        if timer is not None:
            timer.cancel()
    ended_ns = perf_counter_ns()
    cpu, waited = meter.read()
    for task in tasks:
        if not task.cancelled() and task.exception() is not None and not interrupted:
            raise task.exception()  # type: ignore[misc]  # a bug, not a failed operation
    return outcome(spec, workers, (ended_ns - started_ns) / 1e9, cpu, waited, interrupted=interrupted, open_loop=False)


class AsyncTarget(msgspec.Struct, frozen=True):
    """An opened ``--async`` target: the client every coroutine shares, and (dbplex side) the pool's wait counters."""

    client: Any
    pool_wait: Callable[[], poolwait.Snapshot] | None


@asynccontextmanager
async def open_target(
    config: Config | Mapping[str, Any], source: str, kind: str, pool_size: int
) -> AsyncIterator[AsyncTarget]:
    """Open ``source`` through :class:`dbplex.AsyncHub` (``kind="dbplex"``) or its raw async baseline (``"raw"``)."""
    if not isinstance(config, Config):
        config = msgspec.convert(config, Config)
    hub = open_async(pooled(config, [source], pool_size))
    raw: AsyncBaseline | None = None
    try:
        if kind == "dbplex":
            await hub.pool(source)  # open it now: a source that fails, fails before the phase starts
            yield AsyncTarget(AsyncDbplexClient(hub, source), pool_wait=lambda: poolwait.snapshot(hub, source))
        else:
            raw = async_baseline(hub, source, pool_size)
            await raw.open()
            yield AsyncTarget(raw, pool_wait=None)
    finally:
        if raw is not None:
            await raw.aclose()
        await hub.aclose()


def async_baseline(hub: AsyncHub, source: str, pool_size: int) -> AsyncBaseline:
    """The raw async-driver baseline of ``source``'s backend, unopened; an error naming the hook when it has none."""
    bound = hub.plugins.hooks_for(hub.backend(source).name)
    raw = bound.aio.baseline(hub.sources[source], pool_size) if bound.aio is not None else None
    if raw is None:
        raise UnsupportedError(
            f"source {source!r}: the {hub.backend(source).name!r} backend's plugin provides no raw async-driver "
            "baseline (hook dbplex_async_bench_baseline); run with --no-baseline"
        )
    return raw


async def baseline_label(config: Config, source: str) -> str | None:
    """The label of ``source``'s raw async baseline, opened and closed once; None when it has none."""
    hub = open_async(pooled(config, [source], 1))
    try:
        try:
            raw = async_baseline(hub, source, 1)
        except UnsupportedError:
            return None
        try:
            await raw.open()
        finally:
            await raw.aclose()
        return raw.label
    finally:
        await hub.aclose()
