"""``dbplex partition``: specs from the configuration or a file, output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner, Result

from dbplex.cli import partition_render
from dbplex.cli.main import cli
from dbplex.migrate.locking import this_process
from dbplex.partition.reports import PartitionInfo, StatusReport

from .conftest import Engine

SECRET = "n0t-in-output-9c1d"


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "partition", *args])


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["partition", "--help"])
    assert result.exit_code == 0
    for command in ("plan", "apply", "maintain", "status"):
        assert command in result.output


def test_status_shows_estimated_rows_with_a_tilde_and_counted_ones_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    estimated = PartitionInfo(name="g_p1", label="1", kind="hash", rows=1234, rows_estimated=True)
    counted = PartitionInfo(name="g_p2", label="2", kind="hash", rows=5678)
    unknown = PartitionInfo(name="g_p3", label="3", kind="hash")
    report = StatusReport(
        spec="g", source="pg", target="g", strategy="hash", key="id", now="", partitions=[estimated, counted, unknown]
    )
    partition_render.status([report])
    shown = capsys.readouterr().out
    assert "~1,234" in shown and "5,678" in shown and "~5,678" not in shown
    as_json = msgspec.to_builtins([estimated, counted, unknown])
    assert [(p.get("rows"), p.get("rows_estimated")) for p in as_json] == [(1234, True), (5678, None), (None, None)]


@pytest.mark.parametrize(
    ("spec_text", "args", "message"),
    [
        ("", (), "no partition specs: add [partitions.NAME] tables to the configuration or pass --spec FILE"),
        (
            '[partitions.g]\nsource = "pg"\ntarget = "g"\nstrategy = "range"\nkey = "at"\ninterval = "1 day"\n',
            ("nope",),
            "unknown partition spec 'nope' (known: g)",
        ),
        (
            '[partitions.g]\nsource = "pg"\ntarget = "g"\nstrategy = "range"\nkey = "at"\n',
            (),
            "exactly one of `interval` (time) or `step` (numbers) - at `partitions.g`",
        ),
        (
            '[partitions.g]\nsource = "cache"\ntarget = "g"\nstrategy = "hash"\nkey = "id"\nmodulus = 2\n',
            (),
            "`partitions.g.source` is 'cache', which is not a configured source (pg)",
        ),
        ("[sources.x]\nurl = 'redis://'\n", (), "a partition spec file holds only [partitions.NAME] tables"),
    ],
)
def test_spec_problems_are_one_line_with_exit_code_2(
    tmp_path: Path, spec_text: str, args: tuple[str, ...], message: str
) -> None:
    config = write(tmp_path / "dbplex.toml", f'[sources.pg]\nurl = "postgresql://u:{SECRET}@127.0.0.1:1/db"\n')
    spec = write(tmp_path / "p.toml", spec_text)
    for command in ("plan", "status", "apply", "maintain"):
        result = run(config, command, "--spec", str(spec), *args)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output and SECRET not in result.output


def test_an_unreachable_source_is_exit_code_2_without_the_password(tmp_path: Path, free_port: int) -> None:
    config = write(
        tmp_path / "dbplex.toml", f'[sources.pg]\nurl = "postgresql://u:{SECRET}@127.0.0.1:{free_port}/db"\n'
    )
    spec = write(
        tmp_path / "p.toml",
        '[partitions.g]\nsource = "pg"\ntarget = "g"\nstrategy = "range"\nkey = "at"\ninterval = "1 day"\n',
    )
    for command in ("plan", "status", "apply", "maintain"):
        result = run(config, command, "--spec", str(spec))
        assert result.exit_code == 2, (command, result.output)
        assert result.output.startswith("Error: ") or "\nError: " in result.output
        assert SECRET not in result.output and "Traceback" not in result.output


def test_bad_now_is_a_usage_error(tmp_path: Path) -> None:
    config = write(tmp_path / "dbplex.toml", "")
    result = run(config, "plan", "--now", "yesterday")
    assert result.exit_code == 2 and "not an ISO date or time" in result.output


def json_of(result: Result) -> Any:
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output[result.output.index("{") :])


def test_plan_apply_status_maintain_on_a_real_server(engine: Engine, tmp_path: Path) -> None:
    spec = engine.spec(interval="1 day", premake=2, retention="3 days")
    engine.prepare(spec)
    config, spec_file = engine.write_config(tmp_path, [spec])
    now = "2026-11-25T13:30:00+00:00"

    planned = json_of(run(config, "plan", "--spec", str(spec_file), "--now", now, "--json"))
    actions = planned["plans"][0]["actions"]
    creates = [a["partition"] for a in actions if a["kind"] == "create"]
    # from the day holding the cutoff (2026-11-22 13:30) through two days ahead
    assert creates == [f"{engine.target}_p2026_11_{d}" for d in (22, 23, 24, 25, 26, 27)]
    assert all(a["commands"] for a in actions), "every action shows its commands"
    human = run(config, "plan", "--spec", str(spec_file), "--now", now)
    assert human.exit_code == 0 and f"{engine.target}_p2026_11_27" in human.output

    applied = run(config, "apply", "--spec", str(spec_file), "--now", now)
    assert applied.exit_code == 0, applied.output
    assert f"{spec.name}: done" in applied.output

    shown = json_of(run(config, "status", "--spec", str(spec_file), "--now", now, "--json"))["specs"][0]
    assert shown["missing"] == [] and shown["pending"] == 0 and shown["ready"]
    assert shown["horizon"] == "2026-11-28T00:00:00+00:00"
    human = run(config, "status", "--spec", str(spec_file), "--now", now)
    assert human.exit_code == 0 and "horizon 2026-11-28;" in human.output

    again = json_of(run(config, "maintain", "--spec", str(spec_file), "--now", now, "--json"))["runs"][0]
    assert again["status"] == "nothing" and again["actions"] == []


def test_maintain_exits_0_when_another_host_holds_the_lock_and_apply_exits_1(engine: Engine, tmp_path: Path) -> None:
    spec = engine.spec()
    engine.prepare(spec)
    config, spec_file = engine.write_config(tmp_path, [spec])
    lock = engine.hub.partitioner(engine.backend).lock(spec, this_process())
    assert lock.try_acquire()
    try:
        busy = run(config, "maintain", "--spec", str(spec_file), "--lock-wait", "0.5")
        assert busy.exit_code == 0, busy.output
        assert "another host is maintaining" in busy.output
        refused = run(config, "apply", "--spec", str(spec_file), "--lock-wait", "0.5")
        assert refused.exit_code == 1, refused.output
        assert "the maintenance lock is held by" in refused.output and "Traceback" not in refused.output
    finally:
        lock.release()
    done = run(config, "maintain", "--spec", str(spec_file), "--lock-wait", "0.5")
    assert done.exit_code == 0 and f"{spec.name}: done" in done.output


def test_a_spec_the_backend_cannot_do_stops_with_exit_code_2(engine: Engine, tmp_path: Path) -> None:
    if engine.backend == "redis":
        pytest.skip("no rule of Redis rejects this spec")
    spec = engine.spec(strategy="hash", interval=None, modulus=4, key="id", unique=[["id"]], premake=0)
    if engine.backend == "pg":
        spec = engine.spec(unique=[["id"]])  # a PostgreSQL unique key must include the partition key
    elif engine.backend == "mongo":
        spec = engine.spec(
            strategy="hash",
            interval=None,
            modulus=4,
            key="id",
            unique=[["id"]],
            premake=0,
            options={"layout": "collection"},
        )
    config, spec_file = engine.write_config(tmp_path, [spec])
    result = run(config, "plan", "--spec", str(spec_file))
    assert result.exit_code == 2, result.output
    assert f"partitions {spec.name!r}:" in result.output and "unique" in result.output
    result = run(config, "maintain", "--spec", str(spec_file))
    assert result.exit_code == 2, result.output


def test_status_of_a_target_that_is_not_ready_exits_1(engine: Engine, tmp_path: Path) -> None:
    if engine.backend != "pg":
        pytest.skip("only PostgreSQL needs the target made beforehand")
    spec = engine.spec()  # no parent table: not prepared
    config, spec_file = engine.write_config(tmp_path, [spec])
    result = run(config, "status", "--spec", str(spec_file))
    assert result.exit_code == 1, result.output
    assert "not ready:" in result.output and engine.target in result.output
    shown = json_of(run(config, "status", "--spec", str(spec_file), "--json"))["specs"][0]
    assert shown["ready"] is False and shown["problem"]
    planned = run(config, "apply", "--spec", str(spec_file))
    assert planned.exit_code == 2 and f"partitions {spec.name!r}:" in planned.output


def test_layout_auto_is_a_mongodb_option_that_other_backends_refuse(engine: Engine, tmp_path: Path) -> None:
    if engine.backend == "mongo":
        pytest.skip("MongoDB takes layout = auto: tests/partition/test_mongo_server.py covers it")
    spec = engine.spec(options={"layout": "auto"})
    engine.prepare(spec)
    config, spec_file = engine.write_config(tmp_path, [spec])
    result = run(config, "plan", "--spec", str(spec_file))
    assert result.exit_code == 2, result.output
    refusal = {
        "pg": "options.layout: not a PostgreSQL partition option",
        "redis": "Redis partitions take no options, got ['layout']",
    }
    assert f"partitions {spec.name!r}:" in result.output and refusal[engine.backend] in result.output
    assert run(config, "apply", "--spec", str(spec_file)).exit_code == 2
