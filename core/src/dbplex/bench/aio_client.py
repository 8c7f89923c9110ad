"""The record ops of a workload sent through :class:`dbplex.AsyncHub`: the ``--async`` twin of
:class:`dbplex.bench.client.DbplexClient`, calling ``await hub.execute`` and nothing else."""

from __future__ import annotations

from typing import Any

from dbplex.aio.hub import AsyncHub
from dbplex.bench.client import dbplex_label
from dbplex.ops import Delete, Get, Put, Scan, Update
from dbplex.result import Result


class AsyncDbplexClient:
    """Satisfies :class:`~dbplex.bench.aio_baseline.AsyncBaseline` through dbplex's uniform ops."""

    __slots__ = ("_execute", "_source", "label")

    def __init__(self, hub: AsyncHub, source: str) -> None:
        self._execute = hub.execute
        self._source = source
        self.label = f"{dbplex_label(hub.backend(source))} (asyncio)"

    async def open(self) -> None:
        """The runner opens the hub's pool; nothing to do here."""

    async def get(self, table: str, key: str, fields: list[str] | None) -> Result:
        return await self._execute(self._source, Get(table, key, fields))

    async def put(self, table: str, key: str, values: dict[str, Any]) -> Result:
        return await self._execute(self._source, Put(table, key, values))

    async def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Uniform ops have no batch: one Put after another, as an application would send them."""
        for key, values in records:
            await self._execute(self._source, Put(table, key, values))

    async def update(self, table: str, key: str, values: dict[str, Any]) -> Result:
        return await self._execute(self._source, Update(table, key, values))

    async def delete(self, table: str, key: str) -> Result:
        return await self._execute(self._source, Delete(table, key))

    async def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> Result:
        return await self._execute(self._source, Scan(table, start_key, limit, fields))

    async def read_modify_write(self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]) -> Result:
        read = await self.get(table, key, fields)
        await self.update(table, key, values)
        return read

    async def aclose(self) -> None:
        """The hub owns the pool; closing the client releases nothing."""
