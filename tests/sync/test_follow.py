"""``dbplex sync --follow`` against real servers: writes made after and during the copy reach the
target, deletions propagate with ``--delete``, a follower killed with SIGKILL resumes from its
stored position and converges, SIGTERM stops it with exit 0, and a source without a change feed
is refused before anything is copied."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import dbplex
from dbplex.cli.main import cli
from dbplex.errors import ConfigError
from dbplex.ops import Delete, Get, Put, Update
from dbplex.sync import mapping
from dbplex.sync.engine import CHECKPOINTS, Sync
from dbplex.sync.mapping import SyncMap
from tests.sync.conftest import Setup
from tests.sync.test_sync import TARGETS, source_records, sync, target_records

#: how long a follower may take to converge before the test fails (a deadline, not a timing).
DEADLINE = 120.0


def wait_for(condition: Callable[[], bool], what: str, child: subprocess.Popen[str] | None = None) -> None:
    """Poll ``condition`` until true; fail naming ``what`` at the deadline or when ``child`` died."""
    give_up = time.monotonic() + DEADLINE
    while not condition():
        if child is not None and child.poll() is not None:
            pytest.fail(f"the follower exited ({child.returncode}) before {what}: {child.communicate()}")
        if time.monotonic() > give_up:
            pytest.fail(f"no {what} within {DEADLINE:.0f} s")
        time.sleep(0.05)  # a polling interval: the loop waits on the condition


def follower(setup: Setup, target: str, *extra: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "dbplex.cli.main", "--config", str(setup.config), "sync"]
    args += [f"pg.{setup.games}", f"{target}.{setup.copy}", "--map", str(setup.map), "--follow", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def checkpoint(setup: Setup, target: str) -> dict[str, Any] | None:
    row = setup.hub.execute(target, Get(table=CHECKPOINTS, key=f"pg.{setup.games}->{target}.{setup.copy}")).first()
    return None if row is None else row["values"]  # type: ignore[no-any-return]


def following(setup: Setup, target: str) -> bool:
    """Whether the follower finished its copy (its checkpoint is done and holds a feed position)."""
    point = checkpoint(setup, target)
    return point is not None and point["done"] and point["position"] is not None


def converged(setup: Setup, target: str) -> Callable[[], bool]:
    return lambda: target_records(setup, target) == source_records(setup)


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    """Followers a test started, killed if the test left one running."""
    children: list[subprocess.Popen[str]] = []
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("target", TARGETS)
def test_writes_after_the_copy_reach_the_target_and_sigterm_stops_it(
    setup: Setup, target: str, stopped: list[subprocess.Popen[str]]
) -> None:
    setup.fill(200)
    setup.record_changes()
    child = follower(setup, target, "--delete")
    stopped.append(child)
    wait_for(lambda: following(setup, target), "finished copy", child)
    setup.sql("UPDATE {games} SET status = 'postponed', score = NULL WHERE id = 7")
    setup.sql("INSERT INTO {games} VALUES (1000, 1, now(), 'added', 3, now())")
    setup.sql("DELETE FROM {games} WHERE id IN (10, 20)")
    wait_for(converged(setup, target), "converged target", child)
    assert target_records(setup, target)["7"]["status"] == "postponed" and "10" not in target_records(setup, target)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=DEADLINE)
    assert child.returncode == 0, err
    assert err == "" and out.count("\n") == 1, (out, err)
    assert out.startswith(f"synced pg.{setup.games} -> {target}.{setup.copy}: read 200, written 200")
    assert "then followed" in out and "2 deleted" in out


@pytest.mark.parametrize("target", TARGETS)
def test_without_delete_a_deleted_row_stays_in_the_target(setup: Setup, target: str) -> None:
    setup.fill(20)
    setup.record_changes()
    setup.sql("DELETE FROM {games} WHERE id = 5")
    setup.sql("UPDATE {games} SET status = 'late' WHERE id = 6")
    assert report_of(sync(setup, target, "--follow", "--timeout", "0.1"))["copy"]["written"] == 19
    setup.hub.execute(target, Put(table=setup.copy, key="5", values={"status": "kept"}))
    setup.sql("DELETE FROM {games} WHERE id IN (5, 6)")
    done = report_of(sync(setup, target, "--follow", "--count", "1"))  # the stored position: no copy
    assert done["copy"] is None and (done["changes"], done["deleted"], done["skipped"]) == (1, 0, 1)
    records = target_records(setup, target)
    assert records["5"] == {"status": "kept"} and records["6"]["status"] == "late"


def report_of(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


@pytest.mark.parametrize("target", TARGETS)
def test_killed_while_following_then_restarted_loses_no_change(
    setup: Setup, target: str, stopped: list[subprocess.Popen[str]]
) -> None:
    rows = 10_000
    setup.fill(rows)
    setup.record_changes()
    first = follower(setup, target, "--delete", "--batch", "100")
    stopped.append(first)
    wait_for(lambda: (checkpoint(setup, target) or {}).get("read", 0) >= 1000, "copy under way", first)
    # rows already copied: only the change feed, read from before the copy, can bring these over
    setup.sql("UPDATE {games} SET score = score + 100 WHERE id <= 500")
    setup.sql("DELETE FROM {games} WHERE id IN (3, 4)")
    wait_for(lambda: following(setup, target), "finished copy", first)
    started = checkpoint(setup, target)["position"]  # type: ignore[index]
    setup.sql("UPDATE {games} SET status = 'rescheduled'")  # a change per row: many batches to apply
    wait_for(lambda: checkpoint(setup, target)["position"] != started, "applied batch", first)  # type: ignore[index]
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    assert target_records(setup, target) != source_records(setup), "it applied everything before the kill"
    setup.sql("INSERT INTO {games} VALUES (20001, 1, now(), 'while down', 3, now())")
    setup.sql("DELETE FROM {games} WHERE id = 9")
    again = follower(setup, target, "--delete", "--batch", "100", "--json")
    stopped.append(again)
    wait_for(converged(setup, target), "converged target", again)
    again.send_signal(signal.SIGINT)
    out, err = again.communicate(timeout=DEADLINE)
    assert again.returncode == 0, err
    resumed = json.loads(out)
    assert resumed["copy"] is None and resumed["started_after"] != started  # resumed, not copied again
    assert resumed["deleted"] >= 1
    records = target_records(setup, target)
    assert records["20001"]["status"] == "while down" and not {"3", "4", "9"} & set(records)


def test_count_ends_the_follower_after_so_many_changes(setup: Setup, stopped: list[subprocess.Popen[str]]) -> None:
    setup.fill(10)
    setup.record_changes()
    child = follower(setup, "cache", "--count", "2", "--json")
    stopped.append(child)
    wait_for(lambda: following(setup, "cache"), "finished copy", child)
    setup.sql("UPDATE {games} SET status = 'one' WHERE id = 1")
    setup.sql("UPDATE {games} SET status = 'two' WHERE id = 2")
    out, err = child.communicate(timeout=DEADLINE)
    assert child.returncode == 0, err
    assert (json.loads(out)["changes"], json.loads(out)["written"]) == (2, 2)
    assert target_records(setup, "cache") == source_records(setup)


def test_from_redis_into_mongodb_with_the_python_api(dbplex_servers: Any) -> None:
    name = f"syn_{uuid.uuid4().hex[:10]}"
    hub = dbplex.open(
        {"sources": {"cache": {"url": dbplex_servers.url("redis")}, "docs": {"url": dbplex_servers.url("mongo")}}}
    )

    def copy() -> dict[str, Any]:
        with hub.connection("docs") as db:
            return {d.pop("_id"): d for d in db[f"{name}_copy"].find()}

    try:
        feed = hub.change_feed("cache")
        feed.install(name)
        feed.close()
        for i in range(5):
            hub.execute("cache", Put(name, f"k{i}", {"name": f"n{i}", "n": i}))
        sync = Sync(hub, f"cache.{name}", f"docs.{name}_copy", SyncMap(fields={"name": "title", "n": "n"}))
        stop = threading.Event()
        reports: list[Any] = []
        thread = threading.Thread(target=lambda: reports.append(sync.follow(delete=True, stop=stop)))
        thread.start()
        wait_for(lambda: len(copy()) == 5, "copied records")
        hub.execute("cache", Update(name, "k1", {"name": "renamed"}))
        hub.execute("cache", Delete(name, "k2"))
        hub.execute("cache", Put(name, "k9", {"name": "n9", "n": 9}))
        expected = {f"k{i}": {"title": f"n{i}", "n": i} for i in (0, 1, 3, 4, 9)}
        expected["k1"]["title"] = "renamed"
        wait_for(lambda: copy() == expected, "converged target")
        stop.set()
        thread.join(DEADLINE)
        (report,) = reports
        assert report.copy.written == 5 and report.copy.mirror is None
        assert report.changes >= 3 and report.deleted == 1
    finally:
        from dbplex_redis.ops import Command

        with hub.connection("docs") as db:
            db.drop_collection(f"{name}_copy")
        hub.execute("docs", Delete(CHECKPOINTS, f"cache.{name}->docs.{name}_copy"))
        for key in range(10):
            hub.execute("cache", Delete(name, f"k{key}"))
        for suffix in ("changes", "keys", "ttl"):  # after the deletes, which append to the stream
            hub.execute("cache", Command(["DEL", f"{name}:{suffix}"]))
        hub.close()


def test_a_table_whose_changes_are_not_recorded_is_refused_before_copying(setup: Setup) -> None:
    setup.fill(5)
    result = sync(setup, "docs", "--follow", "--timeout", "0.1")
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert f"run `dbplex watch --install pg.{setup.games}` first" in result.output
    assert target_records(setup, "docs") == {}
    with pytest.raises(ConfigError, match="not recorded"):
        Sync(setup.hub, f"pg.{setup.games}", f"docs.{setup.copy}", SyncMap(fields=["status"])).follow()


def test_a_source_without_a_change_feed_exits_2(setup: Setup) -> None:
    setup.map.write_text('fields = ["status"]\n')
    args = ["--config", str(setup.config), "sync", f"docs.{setup.copy}", f"cache.{setup.copy}"]
    result = CliRunner().invoke(cli, [*args, "--map", str(setup.map), "--follow", "--timeout", "0.1"])
    if result.exit_code == 0:
        pytest.skip("this MongoDB is a replica set: it has a change feed")
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "replica set" in result.output and "Traceback" not in result.output


def test_count_and_timeout_need_follow(setup: Setup) -> None:
    result = sync(setup, "docs", "--count", "3")
    assert result.exit_code == 2 and "add --follow" in result.output, result.output


@pytest.mark.parametrize("under_follow", [True, False])
def test_an_interrupted_copy_is_resumed_only_when_a_follower_made_it(setup: Setup, under_follow: bool) -> None:
    setup.fill(300)
    setup.record_changes()
    sync_of = Sync(setup.hub, f"pg.{setup.games}", f"cache.{setup.copy}", mapping.load(str(setup.map)))
    with setup.hub.watch("pg", setup.games, timeout=0.1) as watch:
        position = watch.position if under_follow else None
    interrupted = {"run_id": "r", "mapping": sync_of.digest, "last_key": 100, "read": 100, "written": 100}
    setup.hub.execute("cache", Put(CHECKPOINTS, sync_of.id, {**interrupted, "position": position}))
    done = report_of(sync(setup, "cache", "--follow", "--timeout", "0.1"))
    # a plain sync's copy may be older than any position taken now: it is made again, whole
    assert (done["copy"]["resumed"], done["copy"]["read"]) == ((True, 200) if under_follow else (False, 300))
    assert done["started_after"] == (position or done["started_after"])
