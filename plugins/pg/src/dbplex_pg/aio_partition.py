"""Cross-partition reads on an ``AsyncConnection``: the ``dbplex_async_partition`` hook.

The twin of :meth:`dbplex_pg.partition.PgPartitioner.listing` and ``fetch``: the same catalog
queries and decoding (:mod:`dbplex_pg.partition_catalog`), the same ``SELECT``
(:func:`dbplex_pg.partition_sql.select`) and errors. Each read runs in a transaction that sets
``TimeZone`` and ``DateStyle`` as the sync partitioner's sessions do (``SET LOCAL``: the pooled
connection keeps its own settings afterwards), so bounds parse alike and rows come back alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from dbplex.backends import Source
from dbplex.partition import Inventory, Partition, PartitionQuery, PartitionSpec
from dbplex_pg import partition_catalog as catalog
from dbplex_pg import partition_sql as ddl
from dbplex_pg.errors import query_failure

_T = TypeVar("_T")
Conn = psycopg.AsyncConnection[Any]


class AsyncPgPartitionReader:
    """Lists and reads the partitions of PostgreSQL partitioned tables under asyncio."""

    def __init__(self, source: Source) -> None:
        self.source = source
        #: target -> partition name -> table, for partitions whose table is named otherwise.
        self._tables: dict[str, dict[str, str]] = {}
        #: target -> columns ordered by code point (:func:`partition_catalog.text_order`).
        self._text_order: dict[str, dict[str, str]] = {}

    async def listing(self, conn: Conn, spec: PartitionSpec) -> Inventory:
        """The partitions and their states from the catalog alone (what a query needs)."""

        async def read(conn: Conn) -> Inventory:
            found = catalog.parent_of(
                await (await conn.execute(catalog.PARENT, catalog.parent_params(spec))).fetchone()
            )
            problem = catalog.problem(spec, found)
            if found is None or problem is not None:
                return Inventory(ready=False, problem=problem)
            children = catalog.children_of(spec, await (await conn.execute(catalog.CHILDREN, [found.oid])).fetchall())
            self._tables[spec.target] = catalog.renamed(children)
            self._text_order[spec.target] = await self._read_text_order(conn, spec)
            return catalog.inventory(spec, found, children)

        return await self._run(conn, read)

    async def fetch(
        self, conn: Conn, spec: PartitionSpec, partition: Partition, query: PartitionQuery
    ) -> list[dict[str, Any]]:
        """Rows of one partition in the core's order: text columns ``COLLATE "C"`` (code points)."""

        async def read(conn: Conn) -> list[dict[str, Any]]:
            text_order = self._text_order.get(spec.target)
            if text_order is None:
                text_order = self._text_order[spec.target] = await self._read_text_order(conn, spec)
            table = self._tables.get(spec.target, {}).get(partition.name, partition.name)
            statement, params = ddl.select(table, query, text_order=text_order)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(statement, params)
                return await cur.fetchall()

        return await self._run(conn, read)

    @staticmethod
    async def _read_text_order(conn: Conn, spec: PartitionSpec) -> dict[str, str]:
        return catalog.text_order_of(await (await conn.execute(catalog.TEXT_COLUMNS, [spec.target])).fetchall())

    async def _run(self, conn: Conn, work: Callable[[Conn], Awaitable[_T]]) -> _T:
        """``work`` in a transaction in UTC with ISO dates, errors said in dbplex's terms."""
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'")
                return await work(conn)
        except psycopg.Error as exc:
            raise query_failure(self.source.name, conn, exc) from exc  # type: ignore[arg-type]
