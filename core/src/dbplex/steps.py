"""Drive a sans-I/O step generator with sync or asyncio I/O.

Control flow that spans several round trips — PostgreSQL's first use of a table, Redis's Scan, a
change feed's start and read — is written once, as a generator that yields requests (a statement
and its parameters, a command, ``(kind, request)``), is sent each answer and returns the outcome.
The sync surface runs it with :func:`drive`, the asyncio one with :func:`adrive`, each with its
own way to answer, so the decisions exist once and only the driver calls differ. A generator and
its resumptions cost more than plain calls, so one-round-trip hot paths (a point read, a write to
a known table) stay plain calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeVar

_Q = TypeVar("_Q")
_T = TypeVar("_T")
_C = TypeVar("_C")

#: a step generator: requests of type ``_Q`` out, answers in, a ``_T`` returned.
Steps = Generator[_Q, Any, _T]
#: a request tagged with the index of the I/O function that answers it (see :func:`by_kind`).
Kinded = tuple[int, Any]


def drive(steps: Steps[_Q, _T], answer: Callable[[_Q], Any]) -> _T:
    """Run ``steps``, answering each request with ``answer(request)``; an exception ``answer``
    raises ends the steps and propagates."""
    try:
        request = next(steps)
        while True:
            request = steps.send(answer(request))
    except StopIteration as done:
        result: _T = done.value
        return result


async def adrive(steps: Steps[_Q, _T], answer: Callable[[_Q], Awaitable[Any]]) -> _T:
    """:func:`drive`, each answer awaited."""
    try:
        request = next(steps)
        while True:
            request = steps.send(await answer(request))
    except StopIteration as done:
        result: _T = done.value
        return result


def by_kind(sends: Sequence[Callable[[_C, Any], Any]], conn: _C) -> Callable[[Kinded], Any]:
    """The answer for steps yielding ``(kind, request)``: ``sends[kind](conn, request)`` (awaitable
    when ``sends`` are coroutine functions)."""
    return lambda step: sends[step[0]](conn, step[1])
