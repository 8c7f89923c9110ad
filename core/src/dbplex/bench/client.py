"""The record ops of a workload, sent through dbplex: the side whose overhead the benchmark measures.

:class:`DbplexClient` does what :meth:`dbplex.Hub.execute` does (check a connection out of the
source's pool, call the query hook bound to its backend) with one difference: it notes how long
the checkout waited, so that pool wait time is reported apart from database time. Each worker
thread gets its own client (the wait it notes is per call); they share the hub's pool.
"""

from __future__ import annotations

from time import perf_counter_ns
from typing import Any

from dbplex.backends import Backend
from dbplex.errors import UnsupportedError
from dbplex.hub import Hub
from dbplex.ops import Delete, Get, Op, Put, Scan, Update
from dbplex.result import Result


def dbplex_label(backend: Backend) -> str:
    """How results name the dbplex side, e.g. ``dbplex-redis 0.1.0``."""
    return f"{backend.package or 'dbplex ' + backend.name} {backend.version}"


class DbplexClient:
    """Satisfies :class:`~dbplex.bench.baseline.Baseline` through dbplex's uniform ops."""

    __slots__ = ("_pool", "_query", "_source", "label", "wait_ns")

    def __init__(self, hub: Hub, source: str) -> None:
        self._source = hub.sources[source]
        backend = hub.backend(source)
        self._pool = hub.pool(source)
        self._query = hub.bound(source).run
        self.label = dbplex_label(backend)
        #: nanoseconds the last call waited for a pooled connection.
        self.wait_ns = 0

    def _run(self, op: Op) -> Result:
        started = perf_counter_ns()
        with self._pool.connection() as conn:
            self.wait_ns = perf_counter_ns() - started
            result = self._query(source=self._source, conn=conn, op=op)
        if result is None:
            raise UnsupportedError(f"source {self._source.name!r}: its backend does not run {type(op).__name__} ops")
        return result

    def get(self, table: str, key: str, fields: list[str] | None) -> Result:
        return self._run(Get(table, key, fields))

    def put(self, table: str, key: str, values: dict[str, Any]) -> Result:
        return self._run(Put(table, key, values))

    def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Uniform ops have no batch: one Put after another, on one pooled connection."""
        started = perf_counter_ns()
        with self._pool.connection() as conn:
            self.wait_ns = perf_counter_ns() - started
            for key, values in records:
                if self._query(source=self._source, conn=conn, op=Put(table, key, values)) is None:
                    raise UnsupportedError(f"source {self._source.name!r}: its backend does not run Put ops")

    def update(self, table: str, key: str, values: dict[str, Any]) -> Result:
        return self._run(Update(table, key, values))

    def delete(self, table: str, key: str) -> Result:
        return self._run(Delete(table, key))

    def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> Result:
        return self._run(Scan(table, start_key, limit, fields))

    def read_modify_write(self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]) -> Result:
        read = self.get(table, key, fields)
        wait = self.wait_ns
        self.update(table, key, values)
        self.wait_ns += wait
        return read

    def close(self) -> None:
        """The hub owns the pool; closing a thread's client releases nothing."""
