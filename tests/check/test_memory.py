"""``dbplex check`` runs in bounded memory: a reference and a mirror over ten times the rows
reach about the same Python heap peak, since every side is streamed a batch at a time.

The figure is tracemalloc's peak of the Python heap in this process (what dbplex and the
drivers allocate), measured around the check alone, on a hub already warmed by a first run; it is
a memory bound, not a timing, and does not depend on the machine's load."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import dbplex
from dbplex.check import engine
from dbplex.config import from_dict

SMALL = 5_000
LARGE = 10 * SMALL
#: how much higher the larger run's peak may be: room for allocator noise, far below the 10x
#: of a check that held its rows.
FACTOR = 1.5


@pytest.fixture
def tables(dbplex_servers: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``<name>_a_<rows>`` referencing ``<name>_b_<rows>`` by ``ref``, both holding ids 1..rows,
    for SMALL and LARGE rows."""
    name = f"mem_{uuid.uuid4().hex[:10]}"
    sources = {"pg": {"url": dbplex_servers.url("pg")}}
    with dbplex.open({"sources": sources}) as hub, hub.connection("pg") as conn:
        for rows in (SMALL, LARGE):
            for side in ("a", "b"):
                table = f"{name}_{side}_{rows}"
                conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, ref bigint, label text)")
                conn.execute(f"INSERT INTO {table} SELECT g, g, 'label ' || g FROM generate_series(1, {rows}) g")
        conn.commit()
        try:
            yield name, sources
        finally:
            conn.execute(f"DROP TABLE {', '.join(f'{name}_{s}_{r}' for s in 'ab' for r in (SMALL, LARGE))}")
            conn.commit()


def _peak(hub: dbplex.Hub, config: Any) -> int:
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    report = engine.run(hub, config.checks, sample=10)
    assert report.ok, [(c.name, c.status) for c in report.checks]
    return tracemalloc.get_traced_memory()[1] - before


def test_reference_and_mirror_checks_peak_the_same_over_ten_times_the_rows(
    tables: tuple[str, dict[str, Any]],
) -> None:
    name, sources = tables

    def config(rows: int) -> Any:
        a, b = f"pg.{name}_a_{rows}", f"pg.{name}_b_{rows}"
        checks = {
            "refs": {"kind": "reference", "from": f"{a}.ref", "to": f"{b}.id"},
            # integer keys compared as text: a lookup, which streams both sides through Python
            "copy": {"kind": "mirror", "source": a, "target": b, "fields": {"label": "label"}, "key_type": "str"},
        }
        return from_dict({"sources": sources, "checks": checks})

    small, large = config(SMALL), config(LARGE)
    with dbplex.open(small) as hub:
        tracemalloc.start()
        try:
            _peak(hub, small)  # warm: the pool's connections, the drivers' type caches
            peaks = {rows: _peak(hub, cfg) for rows, cfg in ((SMALL, small), (LARGE, large))}
        finally:
            tracemalloc.stop()
    assert peaks[LARGE] <= FACTOR * peaks[SMALL], peaks
