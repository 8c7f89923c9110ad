"""What the ``dbplex_bench_baseline`` hook returns: the raw driver doing dbplex's record ops by hand.

A backend plugin implements :class:`Baseline` with its driver alone (psycopg + psycopg_pool,
pymongo, redis-py), making the request a careful user of that driver would make against the
plugin's own storage layout, with a pool of the given size. ``dbplex bench`` runs the same
workload, on the same keys, through dbplex and through the baseline, and states dbplex's
overhead as the ratio of the two. Third-party backends provide one the same way.

Methods mean what the uniform ops of :mod:`dbplex.ops` mean; return values are ignored (a
baseline need not build dbplex rows), but the data must be fetched as a user would fetch it.
An exception counts as a failed operation.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Baseline(Protocol):
    """Record operations on one source through the raw driver, safe to call from many threads."""

    #: what runs the requests, for reports, e.g. ``"redis-py 5.0.8"``.
    label: str

    def get(self, table: str, key: str, fields: list[str] | None) -> object:
        """Read one record (or only ``fields`` of it), as :class:`~dbplex.ops.Get`."""
        ...

    def put(self, table: str, key: str, values: dict[str, Any]) -> object:
        """Insert or replace a whole record, as :class:`~dbplex.ops.Put`."""
        ...

    def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> object:
        """Put several records in as few round trips as the driver allows (pipeline, bulk write)."""
        ...

    def update(self, table: str, key: str, values: dict[str, Any]) -> object:
        """Set some fields of an existing record, as :class:`~dbplex.ops.Update`."""
        ...

    def delete(self, table: str, key: str) -> object:
        """Remove one record, as :class:`~dbplex.ops.Delete`."""
        ...

    def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> object:
        """Read up to ``limit`` records from ``start_key`` on in key order, as :class:`~dbplex.ops.Scan`."""
        ...

    def read_modify_write(self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]) -> object:
        """YCSB's read-modify-write: read the record, then update it (the two requests Get and Update make)."""
        ...

    def close(self) -> None:
        """Close the baseline's connections."""
        ...
