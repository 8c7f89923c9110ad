"""Drive a sans-I/O step generator with sync or asyncio I/O.

An op whose control flow spans several round trips (Redis's Scan, PostgreSQL's first use of a
table) is written once, as a generator that yields ``(kind, request)`` pairs, is sent each
answer and returns the op's outcome. A backend's sync executor drives it with :func:`drive`, its
asyncio executor with :func:`adrive`, each with a tuple of its own I/O functions indexed by
``kind``, so only the driver calls differ between the two surfaces. A generator and its
resumptions cost more than plain calls, so backends keep their one-round-trip hot paths (a
point read, a write to a known table) as plain calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
C = TypeVar("C")

#: a step generator: yields ``(kind, request)``, is sent the answer, returns its outcome.
Steps = Generator[tuple[int, Any], Any, T]


def drive(steps: Steps[T], sends: Sequence[Callable[[C, Any], Any]], conn: C) -> T:
    """Answer each request of ``steps`` with ``sends[kind](conn, request)``; its outcome. An
    exception a send raises ends the steps and propagates."""
    try:
        kind, request = next(steps)
        while True:
            kind, request = steps.send(sends[kind](conn, request))
    except StopIteration as done:
        outcome: T = done.value
        return outcome


async def adrive(steps: Steps[T], sends: Sequence[Callable[[C, Any], Awaitable[Any]]], conn: C) -> T:
    """:func:`drive`, each send awaited."""
    try:
        kind, request = next(steps)
        while True:
            kind, request = steps.send(await sends[kind](conn, request))
    except StopIteration as done:
        outcome: T = done.value
        return outcome
