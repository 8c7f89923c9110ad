"""``dbplex sync`` against real servers: exact copies into MongoDB and Redis, idempotent reruns,
deletes, ``--since``, resuming after SIGKILL, and one-line usage errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from click.testing import CliRunner, Result

import dbplex
from dbplex import hookimpl, plugins
from dbplex.backends import Source
from dbplex.check.canonical import text
from dbplex.cli.main import cli
from dbplex.errors import UnsupportedError
from dbplex.ops import Get, Op, Put, PutMany
from dbplex.sync.engine import CHECKPOINTS, Sync
from dbplex.sync.mapping import load
from tests.sync.conftest import START, Setup

TARGETS = ["docs", "cache"]


def sync(setup: Setup, target: str, *extra: str) -> Result:
    args = ["--config", str(setup.config), "sync", f"pg.{setup.games}", f"{target}.{setup.copy}"]
    return CliRunner().invoke(cli, [*args, "--map", str(setup.map), "--json", *extra])


def report(result: Result) -> dict[str, Any]:
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def target_records(setup: Setup, target: str) -> dict[str, dict[str, Any]]:
    """Every record of the copy, read directly from the server, by key."""
    if target == "docs":
        with setup.hub.connection("docs") as db:
            return {d.pop("_id"): d for d in db[setup.copy].find()}
    found = {}
    with setup.hub.connection("cache") as client:
        names = [n.decode() for n in client.scan_iter(match=f"{setup.copy}:r:*", count=1000)]
    for name in names:
        key = name.split(":r:", 1)[1]
        row = setup.hub.execute("cache", Get(table=setup.copy, key=key)).first()
        if row is not None:  # not deleted since the scan (by a follower)
            found[key] = row["values"]
    return found


def source_records(setup: Setup) -> dict[str, dict[str, Any]]:
    with setup.hub.connection("pg") as conn:
        rows = conn.execute(f"SELECT id, venue_id, starts_at, status, score, updated_at FROM {setup.games}").fetchall()
    return {
        str(i): {"venue": v, "starts_at": text(s), "status": st, "score": sc, "updated_at": text(u)}
        for i, v, s, st, sc, u in rows
    }


@pytest.mark.parametrize("target", TARGETS)
def test_copies_exactly_and_a_rerun_changes_nothing(setup: Setup, target: str) -> None:
    setup.fill(2500)
    first = report(sync(setup, target, "--batch", "400"))
    assert first["ok"] and first["mirror"]["status"] == "pass"
    assert (first["read"], first["written"], first["resumed"]) == (2500, 2500, False)
    assert target_records(setup, target) == source_records(setup)  # a null score stays null
    second = report(sync(setup, target, "--batch", "400"))
    assert second["ok"] and (second["read"], second["written"], second["resumed"]) == (2500, 2500, False)
    assert second["run_id"] != first["run_id"]
    assert target_records(setup, target) == source_records(setup)  # no duplicates: 2500 records
    point = setup.hub.execute(target, Get(table=CHECKPOINTS, key=f"pg.{setup.games}->{target}.{setup.copy}")).one()
    assert point["values"]["done"] is True and point["values"]["last_key"] == 2500


class RefusePutMany:
    """Answers PutMany before the backend does, as a backend without it: refused."""

    def __init__(self) -> None:
        self.refused = 0

    @hookimpl(tryfirst=True)
    def dbplex_query(self, source: Source, conn: Any, op: Op) -> None:
        if isinstance(op, PutMany):
            self.refused += 1
            raise UnsupportedError(f"source {source.name!r}: backend {source.backend!r} does not run PutMany ops")


def test_a_target_without_put_many_gets_one_put_per_record(setup: Setup) -> None:
    setup.fill(250)
    refuse = RefusePutMany()
    with dbplex.open(str(setup.config), plugins=plugins.load([refuse])) as hub:
        done = Sync(hub, f"pg.{setup.games}", f"cache.{setup.copy}", load(str(setup.map))).run(batch=100)
    assert done.ok and (done.read, done.written) == (250, 250)
    assert refuse.refused == 1, "asked once, then never again"
    assert target_records(setup, "cache") == source_records(setup)


@pytest.mark.parametrize("target", TARGETS)
def test_a_changed_source_is_caught_up_and_delete_removes_extra_keys(setup: Setup, target: str) -> None:
    setup.fill(300)
    assert report(sync(setup, target))["ok"]
    setup.sql("UPDATE {games} SET status = 'postponed' WHERE id = 7")
    setup.sql("DELETE FROM {games} WHERE id IN (10, 20)")
    setup.hub.execute(target, Put(table=setup.copy, key="9999", values={"status": "stray"}))
    kept = report(sync(setup, target))
    assert not kept["ok"] and kept["deleted"] == 0  # without --delete the extra keys stay
    assert sorted(kept["mirror"]["extra"]["sample"]) == ["10", "20", "9999"]
    assert target_records(setup, target)["7"]["status"] == "postponed"
    cleaned = report(sync(setup, target, "--delete"))
    assert cleaned["ok"] and cleaned["deleted"] == 3
    assert target_records(setup, target) == source_records(setup)


@pytest.mark.parametrize("target", TARGETS)
def test_since_copies_only_newer_rows(setup: Setup, target: str) -> None:
    setup.fill(100)
    cut = (START.replace(hour=1)).isoformat()  # game i was updated at START + i minutes: 60..100 are newer
    result = report(sync(setup, target, "--since", cut))
    assert (result["read"], result["written"], result["skipped"]) == (100, 41, 59)
    assert sorted(map(int, target_records(setup, target))) == list(range(60, 101))
    assert not result["ok"] and result["mirror"]["missing"]["count"] == 59  # the older rows were never copied


@pytest.mark.parametrize("target", TARGETS)
def test_killed_half_way_then_rerun_resumes_and_ends_identical(setup: Setup, target: str) -> None:
    rows = 20_000
    setup.fill(rows)
    args = [sys.executable, "-m", "dbplex.cli.main", "--config", str(setup.config), "sync"]
    args += [f"pg.{setup.games}", f"{target}.{setup.copy}", "--map", str(setup.map), "--batch", "100", "--json"]
    key = f"pg.{setup.games}->{target}.{setup.copy}"
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        progress = 0
        while child.poll() is None and progress < 3000:  # poll the checkpoint the run writes
            row = setup.hub.execute(target, Get(table=CHECKPOINTS, key=key)).first()
            progress = row["values"]["read"] if row else 0
            time.sleep(0.02)  # a polling interval, not a synchronisation: the loop waits on the checkpoint
        assert child.poll() is None, "the sync ended before it could be killed: use a larger table"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    killed = setup.hub.execute(target, Get(table=CHECKPOINTS, key=key)).one()["values"]
    assert not killed["done"] and 3000 <= killed["read"] < rows
    rerun = report(sync(setup, target, "--batch", "1000"))
    assert rerun["ok"] and rerun["resumed"]
    assert int(rerun["resumed_after"]) >= killed["last_key"]
    assert rerun["read"] < rows and rerun["read"] == rows - int(rerun["resumed_after"])
    assert rerun["total_written"] == rows + (int(rerun["resumed_after"]) - killed["last_key"])
    assert target_records(setup, target) == source_records(setup)  # identical, no duplicates


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pg.nope_games", "docs.x"], "no table 'nope_games'"),
        (["pg.games", "cache.copy:*"], "writes a table of records"),
        (["pg", "docs.x"], "expected SOURCE.TABLE"),
        (["pg.games", "elsewhere.x"], "unknown source 'elsewhere'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(setup: Setup, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["--config", str(setup.config), "sync", *args, "--map", str(setup.map)])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output


def test_bad_map_and_since_exit_2(setup: Setup, tmp_path: Any) -> None:
    setup.fill(5)
    bad = tmp_path / "bad.toml"
    bad.write_text('key = "id"\nfeilds = ["status"]\n')
    result = sync(setup, "docs", "--map", str(bad))
    assert result.exit_code == 2 and "feilds" in result.output and result.output.count("\n") == 1
    result = sync(setup, "docs", "--since", "yesterday")
    assert result.exit_code == 2 and "--since 'yesterday'" in result.output, result.output
    setup.map.write_text('key = "id"\nfields = ["status"]\n')
    result = sync(setup, "docs", "--since", "2026-01-01")
    assert result.exit_code == 2 and "watermark" in result.output
