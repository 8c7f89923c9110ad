"""PostgreSQL's change feed under asyncio: the ``dbplex_async_watch`` hook.

The same change log, positions and decoding as :class:`dbplex_pg.watch.PgChangeFeed` (both run
:class:`dbplex_pg.watch.ChangeSteps`); the wait for NOTIFY happens on the connection the async
hub lends the read: ``LISTEN`` before looking (so a change committed meanwhile still wakes it),
``UNLISTEN`` before the connection goes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from dbplex.changes import Change
from dbplex.steps import Steps, adrive
from dbplex_pg.watch import LISTEN, ChangeSteps, Request

Conn = psycopg.AsyncConnection[Any]


class AsyncPgChangeFeed(ChangeSteps):
    """Reads the change log and waits for its NOTIFY on the async hub's connections (``source``:
    the hook's argument)."""

    async def start(self, conn: Conn, tables: Sequence[str], after: str | None) -> str:
        started: str = await _run(conn, self.starting(tables, after))
        return started

    async def read(self, conn: Conn, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        await conn.execute(LISTEN)
        try:
            found: list[Change] = await _run(conn, self.reading(tables, after))
            if not found:
                async for _ in conn.notifies(timeout=wait, stop_after=1):
                    pass
                found = await _run(conn, self.reading(tables, after))
            return found
        finally:
            await conn.execute("UNLISTEN *")


async def _run(conn: Conn, steps: Steps[Request, Any]) -> Any:
    async def answer(request: Request) -> list[Any]:
        return await (await conn.execute(*request)).fetchall()

    return await adrive(steps, answer)
