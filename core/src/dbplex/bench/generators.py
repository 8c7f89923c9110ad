"""Key, length and operation choosers with YCSB's distributions, driven by a seeded ``random.Random``.

Each worker thread owns its choosers and its random stream (seeded from the workload's
``seed`` and the thread's index), so a run's key sequence is the same every time. Only the
insert counter is shared between the threads of a process.

The zipfian chooser follows Gray et al., "Quickly generating billion-record synthetic
databases" (SIGMOD 1994), as YCSB does, with constant 0.99. YCSB's "zipfian" request
distribution is the *scrambled* one: popularity follows the zipfian law over a very large item
space and the item is then hashed into the key range, so that popular keys are spread out rather
than clustered at the start of the range.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import threading
from collections.abc import Sequence

ZIPFIAN_CONSTANT = 0.99
#: the item space of the scrambled zipfian chooser before hashing into the key range (YCSB's).
SCRAMBLED_ITEMS = 10_000_000_000

_MASK64 = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_EXACT_ZETA_UP_TO = 10_000


def fnv64(value: int) -> int:
    """FNV-1a over the 8 little-endian bytes of ``value``, as a non-negative signed 64-bit int.

    YCSB hashes key numbers this way, so ``insertorder=hashed`` gives YCSB's key names.
    """
    digest = _FNV_OFFSET
    for _ in range(8):
        digest = ((digest ^ (value & 0xFF)) * _FNV_PRIME) & _MASK64
        value >>= 8
    return (1 << 64) - digest if digest >= 1 << 63 else digest


def key_name(keynum: int, hashed: bool, zeropadding: int) -> str:
    """YCSB's record key: ``user`` and the (hashed) key number, zero-padded to ``zeropadding`` digits."""
    number = str(fnv64(keynum) if hashed else keynum)
    return "user" + number.zfill(zeropadding)


def zeta(n: int, theta: float, start: int = 0, partial: float = 0.0) -> float:
    """``sum(1 / i**theta for i in 1..n)``, continuing from ``partial`` = the sum up to ``start``.

    Large sums use the Euler–Maclaurin formula (exact to about 1e-12 relative), so a chooser
    over ten billion items starts at once.
    """
    if n - start <= _EXACT_ZETA_UP_TO:
        return partial + math.fsum(i**-theta for i in range(start + 1, n + 1))
    head = 1000
    exact = math.fsum(i**-theta for i in range(1, head))

    def first(x: float) -> float:
        return -theta * float(x ** (-theta - 1))

    def third(x: float) -> float:
        return -theta * (theta + 1) * (theta + 2) * float(x ** (-theta - 3))

    integral = (float(n ** (1 - theta)) - float(head ** (1 - theta))) / (1 - theta)
    ends = (float(head**-theta) + float(n**-theta)) / 2
    return exact + integral + ends + (first(n) - first(head)) / 12 - (third(n) - third(head)) / 720


class Zipfian:
    """Integers in ``[low, low + items)``; ``low`` is the most popular, then ``low + 1``, …"""

    def __init__(self, low: int, items: int, theta: float = ZIPFIAN_CONSTANT) -> None:
        if items < 1:
            raise ValueError("a zipfian chooser needs at least one item")
        self.low = low
        self.theta = theta
        self.alpha = 1 / (1 - theta)
        self.zeta2 = zeta(2, theta)
        self.half_pow_theta = 0.5**theta
        self.items = 0
        self.zetan = 0.0
        self._grow(items)

    def _grow(self, items: int) -> None:
        """Extend the item count, adding to zeta(n) rather than recomputing it (inserts grow it often)."""
        self.zetan = zeta(items, self.theta, self.items, self.zetan) if items > self.items else zeta(items, self.theta)
        self.items = items
        self.eta = (1 - (2 / items) ** (1 - self.theta)) / (1 - self.zeta2 / self.zetan) if items > 1 else 0.0

    def next(self, rng: random.Random, items: int | None = None) -> int:
        if items is not None and items != self.items:
            self._grow(items)
        u = rng.random()
        uz = u * self.zetan
        if uz < 1.0 or self.items == 1:
            return self.low
        if uz < 1.0 + self.half_pow_theta:
            return self.low + 1
        return self.low + min(int(self.items * (self.eta * u - self.eta + 1) ** self.alpha), self.items - 1)


class ScrambledZipfian:
    """Zipfian popularity over ``[low, low + items)``, with the popular items hashed across the range."""

    def __init__(self, low: int, items: int) -> None:
        self.low = low
        self.items = items
        self._zipfian = Zipfian(0, SCRAMBLED_ITEMS)

    def next(self, rng: random.Random) -> int:
        return self.low + fnv64(self._zipfian.next(rng)) % self.items


class Uniform:
    """Integers in ``[low, high]``, all equally likely."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.span = high - low + 1

    def next(self, rng: random.Random) -> int:
        return self.low + int(rng.random() * self.span)


class Hotspot:
    """``hot_ops`` of the picks fall in the first ``hot_data`` fraction of ``[low, high]``, uniformly."""

    def __init__(self, low: int, high: int, hot_data: float, hot_ops: float) -> None:
        span = high - low + 1
        self.low = low
        self.hot = max(0, min(span, int(span * hot_data)))
        self.cold = span - self.hot
        self.hot_ops = hot_ops if self.cold else 1.0
        if not self.hot:
            self.hot_ops = 0.0

    def next(self, rng: random.Random) -> int:
        if rng.random() < self.hot_ops:
            return self.low + int(rng.random() * self.hot)
        return self.low + self.hot + int(rng.random() * self.cold)


class InsertCounter:
    """Key numbers for inserts, shared by a process's threads, and the highest one safe to read.

    A key becomes readable once it and every key before it were acknowledged (inserted), as
    YCSB's acknowledged counter does, so reads never chase keys still being written. Worker
    processes interleave their key numbers with ``step``.
    """

    def __init__(self, start: int, step: int = 1) -> None:
        self._lock = threading.Lock()
        self._next = start
        self._step = step
        self._limit = start - step
        self._acked: list[int] = []

    def next(self) -> int:
        with self._lock:
            value = self._next
            self._next += self._step
            return value

    def acknowledge(self, value: int) -> None:
        with self._lock:
            heapq.heappush(self._acked, value)
            while self._acked and self._acked[0] == self._limit + self._step:
                self._limit = heapq.heappop(self._acked)

    @property
    def last(self) -> int:
        """The highest acknowledged key number below which every one is acknowledged too."""
        return self._limit


class Discrete:
    """Picks one of ``choices`` with the given weights (which add up to 1)."""

    def __init__(self, weighted: Sequence[tuple[int, float]]) -> None:
        kept = [(choice, weight) for choice, weight in weighted if weight > 0]
        self.choices = [choice for choice, _ in kept]
        total = 0.0
        self.bounds = []
        for _, weight in kept:
            total += weight
            self.bounds.append(total)
        self.bounds[-1] = math.inf  # rounding must never fall off the end

    def next(self, rng: random.Random) -> int:
        return self.choices[bisect.bisect_right(self.bounds, rng.random())]
