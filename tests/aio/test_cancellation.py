"""A cancellation ``asyncio.wait_for`` drops before Python 3.12 still reaches the task
(:mod:`dbplex.aio.cancellation`), here without a server: the race is the event loop's alone."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dbplex.aio import cancellation

needs_the_count = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="Python 3.10 keeps no count of a task's cancellations (Task.cancelling() is 3.11+), so a "
    "cancellation wait_for dropped cannot be found again there (docs/asyncio.md)",
)

Waiter = Callable[[Awaitable[Any], float], Awaitable[Any]]


async def cancelled_as_the_wait_ends(wait_for: Waiter) -> str:
    """Cancel a task in the loop turn in which the thing its ``wait_for`` awaits completes."""
    event = asyncio.Event()

    async def victim() -> str:
        await wait_for(event.wait(), 10)
        return "went on"

    task = asyncio.create_task(victim())
    await asyncio.sleep(0)  # the victim waits
    event.set()
    await asyncio.sleep(0)  # the awaited wait ends; wait_for's wake-up is queued
    task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        return "cancelled"


@needs_the_count
def test_a_cancellation_arriving_as_the_wait_ends_is_delivered() -> None:
    """On Python 3.10 and 3.11 the plain ``asyncio.wait_for`` returns "went on" here."""
    assert asyncio.run(cancelled_as_the_wait_ends(cancellation.wait_for)) == "cancelled"


def test_a_cancellation_already_pending_on_entry_is_not_raised_again() -> None:
    """Cleanup code awaited in a cancelled task (``finally: await ...``) is not cut short by an
    older cancellation the task has already received."""

    async def main() -> str:
        async def cleanup_after_cancel() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                await cancellation.wait_for(asyncio.sleep(0), 1)  # the count is 1 on entry and on exit
                return "cleaned up"
            return "not cancelled"

        task = asyncio.create_task(cleanup_after_cancel())
        await asyncio.sleep(0)
        task.cancel()
        return await task

    assert asyncio.run(main()) == "cleaned up"


def test_the_result_comes_back_and_a_timeout_is_a_timeout() -> None:
    async def answer() -> int:
        return 42

    async def main() -> None:
        assert await cancellation.wait_for(answer(), 1) == 42
        with pytest.raises(asyncio.TimeoutError):
            await cancellation.wait_for(asyncio.sleep(10), 0.01)

    asyncio.run(main())
