"""``async for change in async_hub.watch(...)``: one source's changes under asyncio.

The twin of :class:`dbplex.changes.Watch`, with the same positions, stop conditions and
bookkeeping (:class:`~dbplex.changes.watch.Progress`); each start and read borrows a connection of
the source's asyncio pool for its duration only, so cancelling the consumer (or leaving the
``async for``) leaves no connection in use. Stop it by cancelling the task, by ``break``, or with
``timeout``/``count``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from dbplex.aio.endpoint import AsyncEndpoint
from dbplex.changes.feed import AsyncChangeFeed, Change
from dbplex.changes.watch import Progress
from dbplex.changes.watching import Limits


class AsyncWatch:
    """Changes of ``tables`` after ``after`` (or from when iteration starts), as they come.

    :attr:`position` is the position of the last change yielded (``after`` until the first):
    store it after handling the change and pass it as ``after=`` to resume.
    """

    def __init__(
        self, feed: AsyncChangeFeed, endpoint: AsyncEndpoint, tables: list[str], after: str | None, limits: Limits
    ) -> None:
        self._feed = feed
        self._endpoint = endpoint
        self._tables = tables
        #: where to start and when to stop, until :meth:`start` makes the progress of them.
        self._after, self._limits = after, limits
        self._progress: Progress | None = None

    @property
    def position(self) -> str | None:
        return self._after if self._progress is None else self._progress.position

    async def start(self) -> str:
        """Check the tables and fix the starting position (iteration does it when not done yet):
        the same errors as :meth:`dbplex.changes.ChangeFeed.start`."""
        if self._progress is None:
            async with (await self._endpoint.open()).connection() as conn:
                started = await self._feed.start(conn, self._tables, self._after)
            self._progress = Progress(started, self._limits)
        return self._progress.position

    def __aiter__(self) -> AsyncIterator[Change]:
        return self._changes()

    async def _changes(self) -> AsyncIterator[Change]:
        await self.start()
        progress = self._progress
        assert progress is not None
        progress.begin()
        pool = await self._endpoint.open()
        while (wait := progress.wait()) > 0:
            async with pool.connection() as conn:
                changes = await self._feed.read(conn, self._tables, progress.position, wait)
            for change in progress.deliver(changes):
                yield change
