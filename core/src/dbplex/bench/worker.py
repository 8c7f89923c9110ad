"""One worker thread's loops: load, closed loop (as fast as possible) and open loop (on a schedule).

The timed section holds only the call to the client: choosing keys and making values happens
before the clock starts. Histograms record microseconds. The loops are the same whichever
target the client is (dbplex or the raw driver): the harness costs both sides the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from time import perf_counter_ns
from typing import Any

from dbplex.bench.baseline import Baseline
from dbplex.bench.generators import InsertCounter
from dbplex.bench.histogram import HIGHEST_US
from dbplex.bench.recorder import OpRecorder, Recorder
from dbplex.bench.stream import INSERT, METHODS, OP_NAMES, OpStream

#: one timed call: where it is recorded, the records it writes, the client's method and its arguments.
Call = tuple[OpRecorder, int, Callable[..., Any], tuple[Any, ...]]

#: a worker whose operations all fail this many times in a row stops the phase: the source is down.
MAX_ERRORS_IN_A_ROW = 1000


class Tally:
    """What a worker (a thread's, or a coroutine's under ``--async``) records, and when it gives up."""

    def __init__(self, recorder: Recorder, stop: threading.Event) -> None:
        self.recorder = recorder
        self.stop = stop
        self.done = 0
        #: why this worker stopped the phase early, if it did.
        self.aborted: str | None = None
        self._errors_in_a_row = 0

    def _failed(self, rec: OpRecorder, exc: Exception) -> None:
        rec.error(exc)
        self._errors_in_a_row += 1
        if self._errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
            self.aborted = (
                f"stopped after {MAX_ERRORS_IN_A_ROW} failed operations in a row; last: {type(exc).__name__}: {exc}"
            )
            self.stop.set()

    def _rec(self, recs: list[OpRecorder | None], kind: int) -> OpRecorder:
        rec = recs[kind] = self.recorder.op(OP_NAMES[kind])
        return rec

    def _succeeded(self, rec: OpRecorder, started: int, units: int) -> None:
        """Record a call that started at ``started`` (ns) and wrote ``units`` records."""
        us = (perf_counter_ns() - started) // 1000
        rec.latency.record_value(us if us < HIGHEST_US else HIGHEST_US)
        self._counted(rec, units)

    def _counted(self, rec: OpRecorder, units: int) -> None:
        rec.count += 1
        self.recorder.units += units
        self._errors_in_a_row = 0

    def _loads(self, client: Any, table: str, keys: list[str], stream: OpStream, batch: int) -> Iterator[Call]:
        """A load's timed calls, ``batch`` keys each, their records made before the clock starts;
        shared by the threaded and the ``--async`` loops, which only make the calls."""
        rec = self.recorder.op("insert" if batch == 1 else "insert-batch")
        for i in range(0, len(keys), batch):
            if self.stop.is_set():
                return
            chunk = keys[i : i + batch]
            records = [(key, stream.values.record()) for key in chunk]
            if batch == 1:
                yield rec, 1, client.put, (table, chunk[0], records[0][1])
            else:
                yield rec, len(chunk), client.put_many, (table, records)
            self.done += len(chunk)

    def _ops(self, client: Any, stream: OpStream, count: int, counter: InsertCounter) -> Iterator[Call]:
        """``count`` operations of ``stream`` as timed calls; an insert is acknowledged to
        ``counter`` once its call returned (whatever the outcome). Shared as :meth:`_loads` is."""
        methods = tuple(getattr(client, m) for m in METHODS)
        recs: list[OpRecorder | None] = [None] * len(METHODS)
        stop = self.stop
        for _ in range(count):
            if stop.is_set():
                return
            kind, args, inserted = stream.next()
            yield recs[kind] or self._rec(recs, kind), 1, methods[kind], args
            if kind == INSERT:
                counter.acknowledge(inserted)
            self.done += 1


class Worker(Tally):
    """Runs operations on one client and records them; ``done`` is read by the progress display."""

    def __init__(self, client: Baseline, recorder: Recorder, stop: threading.Event) -> None:
        super().__init__(recorder, stop)
        self.client = client

    def _run(self, calls: Iterator[Call]) -> None:
        for rec, units, call, args in calls:
            started = perf_counter_ns()
            try:
                call(*args)
            except Exception as exc:
                self._failed(rec, exc)
            else:
                self._succeeded(rec, started, units)

    def load(self, table: str, keys: list[str], stream: OpStream, batch: int) -> None:
        """Write ``keys`` with full records, ``batch`` per round trip."""
        self._run(self._loads(self.client, table, keys, stream, batch))

    def closed_loop(self, stream: OpStream, count: int, counter: InsertCounter) -> None:
        """``count`` operations back to back: the throughput the source sustains."""
        self._run(self._ops(self.client, stream, count, counter))

    def open_loop(
        self, stream: OpStream, count: int, counter: InsertCounter, first_ns: int, interval_ns: float
    ) -> None:
        """``count`` operations, the i-th due at ``first_ns + i * interval_ns``.

        Latency runs from when an operation was due, not from when it could start, so a slow
        response that delays the next ones is charged to all of them (no coordinated omission).
        """
        recorder = self.recorder
        lag_histogram = recorder.lag
        assert lag_histogram is not None
        for i, (rec, units, call, args) in enumerate(self._ops(self.client, stream, count, counter)):
            due = first_ns + int(i * interval_ns)
            now = perf_counter_ns()
            if now < due:
                time.sleep((due - now) / 1e9)
                now = perf_counter_ns()
            lag = now - due
            lag_histogram.record_value(min(lag // 1000, HIGHEST_US))
            if lag > interval_ns:
                recorder.late += 1
            try:
                call(*args)
            except Exception as exc:
                self._failed(rec, exc)
            else:
                ended = perf_counter_ns()
                rec.latency.record_value(min((ended - due) // 1000, HIGHEST_US))
                assert rec.service is not None
                rec.service.record_value(min((ended - now) // 1000, HIGHEST_US))
                self._counted(rec, units)


def split(total: int, parts: int) -> list[int]:
    """``total`` shared out as evenly as possible: ``split(10, 3) == [4, 3, 3]``."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
