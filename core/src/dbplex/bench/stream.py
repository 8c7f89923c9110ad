"""The sequence of operations one worker sends: which op, on which key, with which values.

It reproduces YCSB's ``CoreWorkload`` choices: keys named ``user<number>`` (hashed insert
order by default); reads, updates, scans and read-modify-writes pick an existing key from the
request distribution; inserts take the next key number and make it readable once written.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from dbplex.bench.generators import Discrete, Hotspot, InsertCounter, ScrambledZipfian, Uniform, Zipfian, key_name
from dbplex.bench.records import Values
from dbplex.bench.workload import Workload

READ, UPDATE, INSERT, SCAN, RMW, DELETE = range(6)
#: result names of the operation kinds, indexed by kind.
OP_NAMES = ("read", "update", "insert", "scan", "read-modify-write", "delete")
#: the Baseline method each kind calls, indexed by kind.
METHODS = ("get", "update", "put", "scan", "read_modify_write", "delete")

#: one operation: its kind, the arguments of its Baseline method, and the key number it inserts (or -1).
Planned = tuple[int, tuple[Any, ...], int]


def stream_rng(seed: int, phase: str, process: int, thread: int) -> random.Random:
    """The random stream of one worker: the same seed, phase and position give the same operations."""
    return random.Random(f"{seed}/{phase}/{process}/{thread}")


def insert_counter(workload: Workload, process: int = 0, processes: int = 1) -> InsertCounter:
    """Key numbers for inserts of the run phase, after the loaded records; processes interleave them."""
    return InsertCounter(workload.recordcount + process, processes)


def load_keys(workload: Workload, part: int, parts: int) -> list[str]:
    """The keys one of ``parts`` loaders writes (every ``parts``-th key of the loaded range)."""
    hashed = workload.insertorder == "hashed"
    first, end = workload.insertstart, workload.insertstart + workload.insertcount
    return [key_name(n, hashed, workload.zeropadding) for n in range(first + part, end, parts)]


class OpStream:
    """Operations for one worker, from its own random stream."""

    def __init__(self, workload: Workload, counter: InsertCounter, rng: random.Random) -> None:
        self._rng = rng
        self._table = workload.table
        self._counter = counter
        self._hashed = workload.insertorder == "hashed"
        self._padding = workload.zeropadding
        self.values = Values(workload, rng)
        self._kinds = Discrete(
            [
                (READ, workload.readproportion),
                (UPDATE, workload.updateproportion),
                (INSERT, workload.insertproportion),
                (SCAN, workload.scanproportion),
                (RMW, workload.readmodifywriteproportion),
                (DELETE, workload.deleteproportion),
            ]
        )
        self._builders: tuple[Callable[[], Planned], ...] = (
            self._read,
            self._update,
            self._insert,
            self._scan,
            self._rmw,
            self._delete,
        )
        low, count = workload.insertstart, workload.insertcount
        self._latest: Zipfian | None = None
        self._chooser: Uniform | ScrambledZipfian | Hotspot | None = None
        distribution = workload.requestdistribution
        if distribution == "latest":
            self._latest = Zipfian(0, max(1, counter.last + 1))
        elif distribution == "zipfian":
            expected_new = int(workload.operationcount * workload.insertproportion * 2)
            self._chooser = ScrambledZipfian(low, max(1, count + expected_new))
        elif distribution == "hotspot":
            self._chooser = Hotspot(low, low + count - 1, workload.hotspotdatafraction, workload.hotspotopnfraction)
        else:
            self._chooser = Uniform(low, low + count - 1)
        low_scan, high_scan = workload.minscanlength, workload.maxscanlength
        self._scan_length: Uniform | Zipfian = (
            Zipfian(low_scan, high_scan - low_scan + 1)
            if workload.scanlengthdistribution == "zipfian"
            else Uniform(low_scan, high_scan)
        )

    def next(self) -> Planned:
        return self._builders[self._kinds.next(self._rng)]()

    def _keynum(self) -> int:
        """An existing key number: never one beyond the last insert acknowledged."""
        last = self._counter.last
        if self._latest is not None:
            return last - self._latest.next(self._rng, last + 1)
        assert self._chooser is not None
        while True:
            keynum = self._chooser.next(self._rng)
            if keynum <= last:
                return keynum

    def _key(self, keynum: int) -> str:
        return key_name(keynum, self._hashed, self._padding)

    def _read(self) -> Planned:
        return READ, (self._table, self._key(self._keynum()), self.values.read_fields()), -1

    def _update(self) -> Planned:
        return UPDATE, (self._table, self._key(self._keynum()), self.values.update()), -1

    def _insert(self) -> Planned:
        keynum = self._counter.next()
        return INSERT, (self._table, self._key(keynum), self.values.record()), keynum

    def _scan(self) -> Planned:
        start = self._key(self._keynum())
        return SCAN, (self._table, start, self._scan_length.next(self._rng), self.values.read_fields()), -1

    def _rmw(self) -> Planned:
        key = self._key(self._keynum())
        return RMW, (self._table, key, self.values.read_fields(), self.values.update()), -1

    def _delete(self) -> Planned:
        return DELETE, (self._table, self._key(self._keynum())), -1
