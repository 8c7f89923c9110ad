"""The raw-driver baseline of ``dbplex bench``: psycopg + psycopg_pool doing the record ops by hand.

It makes the requests a careful psycopg user would make against the backend's table layout
(``key text PRIMARY KEY, data jsonb``, see :mod:`dbplex_pg.translate`): SQL written once per
table, autocommit connections from a ``psycopg_pool.ConnectionPool`` of the benchmark's size,
``conn.execute`` per request, values as ``Jsonb`` parameters and psycopg's default JSON loading.
Tables are not created here: the benchmark loads them through dbplex first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from dbplex.backends import Source
from dbplex.errors import ConfigError
from dbplex_pg.connection import connect_timeout, options

if TYPE_CHECKING:
    import psycopg_pool


class _Queries(NamedTuple):
    get: str
    put: str
    update: str
    delete: str
    scan: str


def _queries(schema: str, table: str) -> _Queries:
    name = sql.Identifier(schema, table).as_string()
    return _Queries(
        get=f"SELECT data FROM {name} WHERE key = %s",
        put=f"INSERT INTO {name} (key, data) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data",
        update=f"UPDATE {name} SET data = data || %s WHERE key = %s",
        delete=f"DELETE FROM {name} WHERE key = %s",
        scan=f"SELECT key, data FROM {name} WHERE key >= %s ORDER BY key LIMIT %s",
    )


def _fields(data: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return data if fields is None else {name: data[name] for name in fields if name in data}


def psycopg_pool_module() -> Any:
    """psycopg_pool, which only the baselines use (the dbplex-pg[bench] extra, not a dependency
    of dbplex-pg); ConfigError saying how to install it when it is missing."""
    try:
        import psycopg_pool
    except ImportError:
        raise ConfigError(
            "the PostgreSQL baseline of dbplex bench runs on psycopg_pool: pip install 'dbplex-pg[bench]'"
        ) from None
    return psycopg_pool


class Tables:
    """What the threaded and the asyncio baseline share: their label, their pool's settings and
    the SQL of each table, composed on first use."""

    def __init__(self, source: Source, pool_size: int, surface: str = "") -> None:
        pools = psycopg_pool_module()
        self.label = f"psycopg {psycopg.__version__} + psycopg_pool {pools.__version__}{surface}"
        self._schema = options(source).schema
        self._queries: dict[str, _Queries] = {}
        #: the arguments of psycopg_pool's ``ConnectionPool`` or ``AsyncConnectionPool``, but the URL.
        self._pool_kwargs: dict[str, Any] = {
            "min_size": pool_size,
            "max_size": pool_size,
            "timeout": source.config.pool.timeout,
            "kwargs": {"autocommit": True, "connect_timeout": connect_timeout(source)},
            "name": f"bench-baseline:{source.name}{surface}",
            "open": False,
        }

    def _sql(self, table: str) -> _Queries:
        queries = self._queries.get(table)
        if queries is None:
            queries = self._queries[table] = _queries(self._schema, table)
        return queries


class PgBaseline(Tables):
    """Satisfies :class:`dbplex.bench.baseline.Baseline` with psycopg alone."""

    def __init__(self, source: Source, pool_size: int) -> None:
        super().__init__(source, pool_size)
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool_module().ConnectionPool(
            source.url, **self._pool_kwargs
        )
        self._pool.open(wait=True, timeout=source.config.connect_timeout)

    def get(self, table: str, key: str, fields: list[str] | None) -> dict[str, Any] | None:
        with self._pool.connection() as conn:
            row = conn.execute(self._sql(table).get, (key,)).fetchone()
        return None if row is None else _fields(row[0], fields)

    def put(self, table: str, key: str, values: dict[str, Any]) -> None:
        with self._pool.connection() as conn:
            conn.execute(self._sql(table).put, (key, Jsonb(values)))

    def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        """One ``executemany``: psycopg pipelines the statements into one round trip."""
        with self._pool.connection() as conn, conn.cursor() as cursor:
            cursor.executemany(self._sql(table).put, [(key, Jsonb(values)) for key, values in records])

    def update(self, table: str, key: str, values: dict[str, Any]) -> int:
        with self._pool.connection() as conn:
            return conn.execute(self._sql(table).update, (Jsonb(values), key)).rowcount

    def delete(self, table: str, key: str) -> int:
        with self._pool.connection() as conn:
            return conn.execute(self._sql(table).delete, (key,)).rowcount

    def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> list[tuple[str, Any]]:
        with self._pool.connection() as conn:
            rows = conn.execute(self._sql(table).scan, (start_key, limit)).fetchall()
        return [(key, _fields(data, fields)) for key, data in rows]

    def read_modify_write(
        self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Read, then update, on one checked-out connection (as a user holding one would)."""
        queries = self._sql(table)
        with self._pool.connection() as conn:
            row = conn.execute(queries.get, (key,)).fetchone()
            conn.execute(queries.update, (Jsonb(values), key))
        return None if row is None else _fields(row[0], fields)

    def close(self) -> None:
        self._pool.close()
