"""Each backend's raw-driver baseline does what dbplex's uniform ops do, on the same storage layout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import dbplex
from dbplex import Delete, Get, Put, Scan
from dbplex.bench.baseline import Baseline
from dbplex.bench.targets import baseline
from dbplex.plugins import default as installed_plugins

BACKENDS = ["pg", "mongo", "redis"]
RECORD = {"field0": "a" * 10, "field1": "b" * 10}


def _plain(found: Any) -> dict[str, Any]:
    """A baseline's record without the key MongoDB keeps in the document."""
    return {name: value for name, value in dict(found).items() if name != "_id"}


@pytest.fixture(params=BACKENDS)
def pair(request: pytest.FixtureRequest, open_hub: Callable[..., dbplex.Hub]) -> Iterator[tuple[dbplex.Hub, Baseline]]:
    backend = request.param
    if backend not in installed_plugins().backends:
        pytest.skip(f"the {backend} plugin (dbplex-{backend}) is not installed")
    hub = open_hub(backend)
    raw = baseline(hub, backend, 2)
    assert raw is not None, f"the {backend} plugin provides no baseline"
    assert isinstance(raw, Baseline)
    yield hub, raw
    raw.close()


def _get(hub: dbplex.Hub, table: str, key: str) -> dict[str, Any] | None:
    row = hub.execute(next(iter(hub.sources)), Get(table, key)).first()
    return None if row is None else row["values"]


def test_baseline_reads_what_dbplex_wrote(pair: tuple[dbplex.Hub, Baseline], unique_table: str) -> None:
    hub, raw = pair
    source = next(iter(hub.sources))
    hub.execute(source, Put(unique_table, "k1", RECORD))
    assert _plain(raw.get(unique_table, "k1", None)) == RECORD
    assert _plain(raw.get(unique_table, "k1", ["field1"])) == {"field1": RECORD["field1"]}
    assert not raw.get(unique_table, "missing", None)


def test_dbplex_reads_what_the_baseline_wrote(pair: tuple[dbplex.Hub, Baseline], unique_table: str) -> None:
    hub, raw = pair
    source = next(iter(hub.sources))
    hub.execute(source, Put(unique_table, "seed", RECORD))  # dbplex creates the table, as the benchmark's load does
    raw.put(unique_table, "k1", RECORD)
    raw.put_many(unique_table, [(f"m{i}", {"field0": str(i)}) for i in range(5)])
    assert _get(hub, unique_table, "k1") == RECORD
    assert [_get(hub, unique_table, f"m{i}") for i in range(5)] == [{"field0": str(i)} for i in range(5)]
    raw.update(unique_table, "k1", {"field1": "changed"})
    assert _get(hub, unique_table, "k1") == {**RECORD, "field1": "changed"}
    raw.update(unique_table, "nothing-here", {"field1": "x"})
    assert _get(hub, unique_table, "nothing-here") is None
    raw.read_modify_write(unique_table, "k1", None, {"field0": "rmw"})
    assert _get(hub, unique_table, "k1") == {"field0": "rmw", "field1": "changed"}
    raw.delete(unique_table, "k1")
    assert _get(hub, unique_table, "k1") is None
    assert hub.execute(source, Delete(unique_table, "k1")).affected == 0


def test_scan_reads_as_many_records_in_the_same_range(pair: tuple[dbplex.Hub, Baseline], unique_table: str) -> None:
    hub, raw = pair
    source = next(iter(hub.sources))
    for i in range(10):
        hub.execute(source, Put(unique_table, f"k{i}", RECORD))
    assert len(raw.scan(unique_table, "k3", 4, None)) == len(hub.execute(source, Scan(unique_table, "k3", 4))) == 4
    assert len(raw.scan(unique_table, "k8", 5, ["field0"])) == 2


def test_label_names_the_driver(pair: tuple[dbplex.Hub, Baseline]) -> None:
    _, raw = pair
    assert any(name in raw.label for name in ("psycopg", "pymongo", "redis-py"))
