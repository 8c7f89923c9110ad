"""Which replica a read goes to first: each strategy orders the replicas that may take reads."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar


class Candidate(Protocol):
    #: reads in flight on it now.
    in_flight: int
    #: moving average of its read latency, in ms (0 until it has served a read).
    latency_ms: float


C = TypeVar("C", bound=Candidate)
Order = Callable[[Sequence[C]], list[C]]


def round_robin() -> Order[C]:
    turns = itertools.count()

    def order(replicas: Sequence[C]) -> list[C]:
        start = next(turns) % len(replicas)
        return [*replicas[start:], *replicas[:start]]

    return order


def least_used() -> Order[C]:
    def order(replicas: Sequence[C]) -> list[C]:
        return sorted(replicas, key=lambda r: r.in_flight)

    return order


def latency_window(window_ms: float) -> Order[C]:
    """A random pick among the replicas within ``window_ms`` of the fastest, the others after it."""

    def order(replicas: Sequence[C]) -> list[C]:
        fastest = min(r.latency_ms for r in replicas)
        near = [r for r in replicas if r.latency_ms <= fastest + window_ms]
        first = random.choice(near)
        return [first, *(r for r in replicas if r is not first)]

    return order


def make(name: str, window_ms: float) -> Order[C]:
    """The ordering function of the strategy ``name`` (validated by the configuration)."""
    if name == "least_used":
        return least_used()
    if name == "latency_window":
        return latency_window(window_ms)
    return round_robin()
