"""``dbplex bench run --async`` on real servers, and each backend's raw async-driver baseline doing
what dbplex's uniform ops do on the same storage layout."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, Scan
from dbplex.bench.aio_baseline import AsyncBaseline
from dbplex.bench.aio_engine import async_baseline
from dbplex.testing.plugin import Servers
from tests.bench.test_cli_bench import SMALL, _bench, _config, _needs

BACKENDS = ["pg", "mongo", "redis"]
RECORD = {"field0": "a" * 10, "field1": "b" * 10}


def _plain(found: Any) -> dict[str, Any]:
    return {name: value for name, value in dict(found).items() if name != "_id"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_baseline_and_async_hub_read_each_other_s_records(
    backend: str, dbplex_servers: Servers, unique_table: str
) -> None:
    _needs(backend)

    async def main() -> None:
        async with dbplex.open_async({"sources": {backend: {"url": dbplex_servers.url(backend)}}}) as hub:
            raw = async_baseline(hub, backend, 2)
            assert isinstance(raw, AsyncBaseline) and "(asyncio)" in raw.label
            await raw.open()
            try:
                await hub.execute(backend, Put(unique_table, "k1", RECORD))  # dbplex creates the table
                assert _plain(await raw.get(unique_table, "k1", None)) == RECORD
                assert _plain(await raw.get(unique_table, "k1", ["field1"])) == {"field1": RECORD["field1"]}
                await raw.put(unique_table, "k2", RECORD)
                await raw.put_many(unique_table, [(f"m{i}", {"field0": str(i)}) for i in range(5)])
                await raw.update(unique_table, "k2", {"field1": "changed"})
                found = (await hub.execute(backend, Get(unique_table, "k2"))).one()["values"]
                assert found == {**RECORD, "field1": "changed"}
                await raw.read_modify_write(unique_table, "m1", None, {"field0": "rmw"})
                assert (await hub.execute(backend, Get(unique_table, "m1"))).one()["values"] == {"field0": "rmw"}
                await raw.delete(unique_table, "k2")
                assert (await hub.execute(backend, Get(unique_table, "k2"))).first() is None
                dbplex_scan = await hub.execute(backend, Scan(unique_table, "m1", 3))
                assert len(await raw.scan(unique_table, "m1", 3, None)) == len(dbplex_scan.rows) == 3
            finally:
                await raw.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_run_writes_a_complete_result_against_the_raw_async_driver(
    backend: str, dbplex_servers: Servers, unique_table: str, tmp_path: Path
) -> None:
    _needs(backend)
    config = _config(tmp_path, {backend: dbplex_servers.url(backend)})
    out = tmp_path / "r.json"
    args = ["run", "--async", "-w", "a", "-p", f"table={unique_table}", *SMALL, "-t", "8", "--out", str(out)]
    result = _bench(config, *args)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["complete"] is True and document["settings"]["asynchronous"] is True
    runs = {r["target"]: r for r in document["runs"]}
    assert set(runs) == {"dbplex", "raw"}
    assert "(asyncio)" in runs["dbplex"]["label"] and "(asyncio)" in runs["raw"]["label"]
    assert runs["dbplex"]["phases"]["load"]["ops"] == 200
    for target, run in runs.items():
        phase = run["phases"]["run"]
        assert phase["ops"] == 600 and phase["errors"] == 0, target
        assert set(phase["ops_by_type"]) == {"read", "update"}
    assert runs["dbplex"]["phases"]["run"]["pool_wait"]["checkouts"] == 600  # one checkout per op
    assert document["overheads"][0]["source"] == backend


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--processes", "2"], "--async runs coroutines on one event loop in one process: leave out --processes"),
        (["--target", "100"], "--async runs closed loop only: leave out --target"),
    ],
)
def test_async_refuses_what_it_does_not_run(tmp_path: Path, extra: list[str], message: str) -> None:
    result = _bench(_config(tmp_path, {"cache": "redis://127.0.0.1:1/0"}), "run", "--async", *extra, *SMALL)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
