"""Redis's change feed under asyncio: the ``dbplex_async_watch`` hook.

The same streams, positions and decoding as :class:`dbplex_redis.watch.RedisChangeFeed` (both run
:class:`dbplex_redis.watch.ChangeSteps`), with ``XREAD BLOCK`` awaited on redis.asyncio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio

from dbplex.changes import Change
from dbplex.steps import adrive
from dbplex_redis.watch import ChangeSteps

Client = redis.asyncio.Redis


async def _send(conn: Client, command: Sequence[Any]) -> Any:
    """One command of the steps, answered by the server."""
    # redis-py leaves Redis.execute_command unannotated (no stubs say otherwise)
    return await conn.execute_command(*command)  # type: ignore[no-untyped-call]


class AsyncRedisChangeFeed(ChangeSteps):
    """Reads the tables' change streams on the async hub's connections (``source``: the hook's argument)."""

    async def start(self, conn: Client, tables: Sequence[str], after: str | None) -> str:
        started: str = await adrive(self.starting(tables, after), lambda command: _send(conn, command))
        return started

    async def read(self, conn: Client, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        found: list[Change] = await adrive(self.reading(tables, after, wait), lambda command: _send(conn, command))
        return found
