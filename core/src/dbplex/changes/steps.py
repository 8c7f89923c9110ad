"""A feed's reading logic written once, without I/O, for both hubs.

A backend writes a read as a generator that yields requests (a statement and its parameters, a
command) and receives each one's answer; :func:`drive` answers them on a blocking connection,
:func:`adrive` on an asyncio one. The decisions (which range to read next, when a position moves,
how rows become :class:`~dbplex.changes.Change`) then exist once, whichever hub runs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

_Q = TypeVar("_Q")
_T = TypeVar("_T")

#: requests of type ``_Q`` out, answers in, a ``_T`` returned.
Steps = Generator[_Q, Any, _T]


def drive(steps: Steps[_Q, _T], answer: Callable[[_Q], Any]) -> _T:
    """Run ``steps``, answering each request with ``answer(request)``."""
    try:
        request = next(steps)
        while True:
            request = steps.send(answer(request))
    except StopIteration as done:
        result: _T = done.value
        return result


async def adrive(steps: Steps[_Q, _T], answer: Callable[[_Q], Awaitable[Any]]) -> _T:
    """Run ``steps``, answering each request with ``await answer(request)``."""
    try:
        request = next(steps)
        while True:
            request = steps.send(await answer(request))
    except StopIteration as done:
        result: _T = done.value
        return result
