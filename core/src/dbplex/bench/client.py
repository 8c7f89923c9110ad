"""The record ops of a workload, sent through dbplex: the side whose overhead the benchmark measures.

:class:`DbplexClient` calls :meth:`dbplex.Hub.execute`, exactly what an application calls, and
nothing else: no clock reads, no bookkeeping of its own. The worker loop around it is the same
one the raw driver's baseline runs in, so the difference between the two is dbplex. Pool wait is
read from the pool's own counters around each phase (:mod:`dbplex.bench.poolwait`).
"""

from __future__ import annotations

from typing import Any

from dbplex.backends import Backend
from dbplex.hub import Hub
from dbplex.ops import Delete, Get, Put, Scan, Update
from dbplex.result import Result


def dbplex_label(backend: Backend) -> str:
    """How results name the dbplex side, e.g. ``dbplex-redis 0.1.0``."""
    return f"{backend.package or 'dbplex ' + backend.name} {backend.version}"


class DbplexClient:
    """Satisfies :class:`~dbplex.bench.baseline.Baseline` through dbplex's uniform ops.

    It holds nothing per thread, so every worker thread shares one; the hub's pool is theirs.
    """

    __slots__ = ("_execute", "_source", "label")

    def __init__(self, hub: Hub, source: str) -> None:
        self._execute = hub.execute
        self._source = source
        self.label = dbplex_label(hub.backend(source))

    def get(self, table: str, key: str, fields: list[str] | None) -> Result:
        return self._execute(self._source, Get(table, key, fields))

    def put(self, table: str, key: str, values: dict[str, Any]) -> Result:
        return self._execute(self._source, Put(table, key, values))

    def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        """One Put after another, each as an application would send it (``PutMany`` is optional for
        backends, so the load phase does not depend on it)."""
        for key, values in records:
            self._execute(self._source, Put(table, key, values))

    def update(self, table: str, key: str, values: dict[str, Any]) -> Result:
        return self._execute(self._source, Update(table, key, values))

    def delete(self, table: str, key: str) -> Result:
        return self._execute(self._source, Delete(table, key))

    def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> Result:
        return self._execute(self._source, Scan(table, start_key, limit, fields))

    def read_modify_write(self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]) -> Result:
        read = self.get(table, key, fields)
        self.update(table, key, values)
        return read

    def close(self) -> None:
        """The hub owns the pool; closing the client releases nothing."""
