"""Cancellations that ``asyncio.wait_for`` lost before Python 3.12, delivered by dbplex.

On Python 3.10 and 3.11, ``wait_for`` drops a cancellation that arrives in the same loop turn
as the awaited thing completes (CPython issue 86296; 3.12 rewrote ``wait_for``). Drivers call it
inside their own awaits — redis-py around every send when a socket timeout is set — so a
cancelled task can carry on to its next await, a blocking read say, as if never cancelled.

From Python 3.11 the task still counts the request (``Task.cancelling()``): :func:`requests`
reads the count before such a call and :func:`deliver` raises the cancellation after it if one
arrived meanwhile. Python 3.10 keeps no count, so there a cancellation ``wait_for`` drops stays
lost; docs/asyncio.md says so.
"""

from __future__ import annotations

import asyncio
import sys
from asyncio import current_task
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


if sys.version_info >= (3, 11):

    def requests() -> int:
        """How many cancellations of the current task are pending (0 outside a task)."""
        task = current_task()
        return 0 if task is None else task.cancelling()

    def deliver(before: int) -> None:
        """Raise CancelledError if the current task was cancelled since :func:`requests` gave ``before``."""
        task = current_task()
        if task is not None and task.cancelling() > before:
            raise asyncio.CancelledError

else:

    def requests() -> int:
        """Python 3.10 keeps no count: always 0."""
        return 0

    def deliver(before: int) -> None:
        """Python 3.10 keeps no count: nothing to deliver."""


async def wait_for(awaitable: Awaitable[T], timeout: float) -> T:
    """``asyncio.wait_for`` that never loses the caller's cancellation on Python 3.11 (a result
    that came with it is dropped: the caller owns any cleanup, as for any cancellation)."""
    before = requests()
    result = await asyncio.wait_for(awaitable, timeout)
    deliver(before)
    return result
