"""``dbplex sync`` without ``--map``: every column of the source arrives under its own name, keyed
by the table's key; ``--watermark`` gives ``--since`` its column; a checkpoint written before the
table changed is not resumed."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result

from dbplex.cli.main import cli
from dbplex.sync import mapping
from dbplex.sync.engine import Sync
from tests.sync.conftest import START, Setup
from tests.sync.test_sync import TARGETS, report, source_records, target_records


def sync(setup: Setup, target: str, *extra: str) -> Result:
    args = ["--config", str(setup.config), "sync", f"pg.{setup.games}", f"{target}.{setup.copy}", *extra]
    return CliRunner().invoke(cli, args)


def every_column(setup: Setup) -> dict[str, dict[str, Any]]:
    """The source's rows with every column but the key, under its own name, as the copy holds them."""
    return {
        key: {("venue_id" if f == "venue" else f): v for f, v in r.items()} for key, r in source_records(setup).items()
    }


@pytest.mark.parametrize("target", TARGETS)
def test_every_column_arrives_and_the_mirror_check_passes(setup: Setup, target: str) -> None:
    setup.fill(250)
    result = report(sync(setup, target, "--json", "--batch", "100"))
    assert result["ok"] and result["mirror"]["status"] == "pass"
    assert (result["read"], result["written"]) == (250, 250)
    assert target_records(setup, target) == every_column(setup)


@pytest.mark.parametrize("target", TARGETS)
def test_since_with_watermark_copies_only_newer_rows(setup: Setup, target: str) -> None:
    setup.fill(100)
    cut = START.replace(hour=1).isoformat()  # game i was updated at START + i minutes: 60..100 are newer
    result = report(sync(setup, target, "--json", "--since", cut, "--watermark", "updated_at"))
    assert (result["read"], result["written"], result["skipped"]) == (100, 41, 59)
    copied = target_records(setup, target)
    assert sorted(map(int, copied)) == list(range(60, 101))
    assert copied == {k: v for k, v in every_column(setup).items() if int(k) >= 60}


def test_watermark_serves_a_map_without_one(setup: Setup) -> None:
    setup.fill(100)
    setup.map.write_text('key = "id"\nfields = ["status", "updated_at"]\n')
    cut = START.replace(hour=1).isoformat()
    result = report(sync(setup, "docs", "--json", "--map", str(setup.map), "--since", cut, "--watermark", "updated_at"))
    assert (result["written"], result["skipped"]) == (41, 59)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--since", "2026-01-01"], "--since needs the watermark column"),
        (["--watermark", "nope"], "--watermark 'nope': pg.syn_"),
        (["--map", "MAP", "--watermark", "starts_at"], "the --map file's watermark is 'updated_at'"),
    ],
)
def test_watermark_mistakes_exit_2_with_one_line(setup: Setup, extra: list[str], message: str) -> None:
    setup.fill(5)
    result = sync(setup, "docs", *[str(setup.map) if a == "MAP" else a for a in extra])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output


class _Killed(Exception):
    """Stands for a run killed after its first checkpoint."""


def _die(done: int) -> None:
    raise _Killed


@pytest.mark.parametrize("target", TARGETS)
def test_a_checkpoint_from_before_a_new_column_is_not_resumed(setup: Setup, target: str) -> None:
    setup.fill(300)
    with pytest.raises(_Killed):  # the first batch is written and checkpointed, then the run dies
        Sync(setup.hub, f"pg.{setup.games}", f"{target}.{setup.copy}").run(batch=100, progress=_die)
    setup.sql("ALTER TABLE {games} ADD COLUMN league text DEFAULT 'north'")
    rerun = Sync(setup.hub, f"pg.{setup.games}", f"{target}.{setup.copy}").run(batch=100)
    assert rerun.ok and not rerun.resumed and rerun.read == 300
    assert all(record["league"] == "north" for record in target_records(setup, target).values())


def test_derived_map_is_every_described_field_but_the_key(setup: Setup) -> None:
    setup.fill(3)
    shape = setup.hub.describer("pg").describe(setup.games, 10)
    derived = mapping.derive(shape, "updated_at")
    assert derived.renames == {f: f for f in ("venue_id", "starts_at", "status", "score", "updated_at")}
    assert derived.key is None and derived.watermark == "updated_at"


def test_a_sampled_collection_gives_the_same_map_whatever_the_order_seen(setup: Setup) -> None:
    with setup.hub.connection("docs") as db:
        db[setup.copy].insert_many([{"_id": 1, "z": 1, "a": 2}, {"_id": 2, "m": 3, "a": 1}])
    derived = mapping.derive(setup.hub.describer("docs").describe(setup.copy, 1000))
    assert list(derived.renames) == ["a", "m", "z"] and derived.key is None  # _id is the key, not copied
