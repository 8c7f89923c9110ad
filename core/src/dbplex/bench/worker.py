"""One worker thread's loops: load, closed loop (as fast as possible) and open loop (on a schedule).

The timed section holds only the call to the client: choosing keys and making values happens
before the clock starts. Histograms record microseconds. The loops are the same whichever
target the client is (dbplex or the raw driver): the harness costs both sides the same.
"""

from __future__ import annotations

import threading
import time
from time import perf_counter_ns

from dbplex.bench.baseline import Baseline
from dbplex.bench.generators import InsertCounter
from dbplex.bench.histogram import HIGHEST_US
from dbplex.bench.recorder import OpRecorder, Recorder
from dbplex.bench.stream import INSERT, METHODS, OP_NAMES, OpStream

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


class Worker(Tally):
    """Runs operations on one client and records them; ``done`` is read by the progress display."""

    def __init__(self, client: Baseline, recorder: Recorder, stop: threading.Event) -> None:
        super().__init__(recorder, stop)
        self.client = client

    def load(self, table: str, keys: list[str], stream: OpStream, batch: int) -> None:
        """Write ``keys`` with full records, ``batch`` per round trip."""
        name = "insert" if batch == 1 else "insert-batch"
        rec = self.recorder.op(name)
        histogram = rec.latency
        for i in range(0, len(keys), batch):
            if self.stop.is_set():
                return
            chunk = keys[i : i + batch]
            records = [(key, stream.values.record()) for key in chunk]
            started = perf_counter_ns()
            try:
                if batch == 1:
                    self.client.put(table, chunk[0], records[0][1])
                else:
                    self.client.put_many(table, records)
            except Exception as exc:
                self._failed(rec, exc)
            else:
                us = (perf_counter_ns() - started) // 1000
                histogram.record_value(us if us < HIGHEST_US else HIGHEST_US)
                rec.count += 1
                self.recorder.units += len(chunk)
                self._errors_in_a_row = 0
            self.done += len(chunk)

    def closed_loop(self, stream: OpStream, count: int, counter: InsertCounter) -> None:
        """``count`` operations back to back: the throughput the source sustains."""
        methods = tuple(getattr(self.client, m) for m in METHODS)
        recs: list[OpRecorder | None] = [None] * len(METHODS)
        stop, recorder = self.stop, self.recorder
        for _ in range(count):
            if stop.is_set():
                return
            kind, args, inserted = stream.next()
            rec = recs[kind] or self._rec(recs, kind)
            started = perf_counter_ns()
            try:
                methods[kind](*args)
            except Exception as exc:
                self._failed(rec, exc)
            else:
                us = (perf_counter_ns() - started) // 1000
                rec.latency.record_value(us if us < HIGHEST_US else HIGHEST_US)
                rec.count += 1
                recorder.units += 1
                self._errors_in_a_row = 0
            if kind == INSERT:
                counter.acknowledge(inserted)
            self.done += 1

    def open_loop(
        self, stream: OpStream, count: int, counter: InsertCounter, first_ns: int, interval_ns: float
    ) -> None:
        """``count`` operations, the i-th due at ``first_ns + i * interval_ns``.

        Latency runs from when an operation was due, not from when it could start, so a slow
        response that delays the next ones is charged to all of them (no coordinated omission).
        """
        methods = tuple(getattr(self.client, m) for m in METHODS)
        recs: list[OpRecorder | None] = [None] * len(METHODS)
        stop, recorder = self.stop, self.recorder
        lag_histogram = recorder.lag
        assert lag_histogram is not None
        for i in range(count):
            if stop.is_set():
                return
            kind, args, inserted = stream.next()
            rec = recs[kind] or self._rec(recs, kind)
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
                methods[kind](*args)
            except Exception as exc:
                self._failed(rec, exc)
            else:
                ended = perf_counter_ns()
                rec.latency.record_value(min((ended - due) // 1000, HIGHEST_US))
                assert rec.service is not None
                rec.service.record_value(min((ended - now) // 1000, HIGHEST_US))
                rec.count += 1
                recorder.units += 1
                self._errors_in_a_row = 0
            if kind == INSERT:
                counter.acknowledge(inserted)
            self.done += 1


def split(total: int, parts: int) -> list[int]:
    """``total`` shared out as evenly as possible: ``split(10, 3) == [4, 3, 3]``."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
