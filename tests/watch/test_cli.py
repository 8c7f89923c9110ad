"""``dbplex watch`` in a subprocess: JSON lines, --count, --after, --install, Ctrl-C, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dbplex.ops import Delete, Put, Update
from tests.watch.conftest import Watched


def _dbplex(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), "watch", *args]


def _config(tmp_path: Path, watched: Watched) -> Path:
    config = tmp_path / "dbplex.toml"
    config.write_text(f'[sources.{watched.source}]\nurl = "{watched.url}"\n')
    return config


def test_json_lines_after_a_position_up_to_a_count(watched: Watched, tmp_path: Path) -> None:
    hub, source, table = watched.hub, watched.source, watched.table
    start = hub.watch(source, table, timeout=0.1)
    before = start.position
    start.close()
    hub.execute(source, Put(table, "k1", {"name": "first"}))
    hub.execute(source, Update(table, "k1", {"name": "second"}))
    hub.execute(source, Delete(table, "k1"))
    done = subprocess.run(
        _dbplex(_config(tmp_path, watched), f"{source}.{table}", "--json", "--count", "3", "--after", before),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(c["op"], c["key"], c["values"]) for c in lines] == [
        ("insert", "k1", {"name": "first"}),
        ("update", "k1", {"name": "second"}),
        ("delete", "k1", {}),
    ]
    assert {(c["source"], c["table"]) for c in lines} == {(source, table)}
    assert all(c["position"] for c in lines)


def test_ctrl_c_ends_it_with_exit_code_0(watched: Watched, tmp_path: Path) -> None:
    hub, source, table = watched.hub, watched.source, watched.table
    start = hub.watch(source, table, timeout=0.1)
    before = start.position
    start.close()
    hub.execute(source, Put(table, "k1", {"n": 1}))
    process = subprocess.Popen(
        _dbplex(_config(tmp_path, watched), f"{source}.{table}", "--after", before),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # it is watching once it printed the change made before
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert f"{source}.{table}  insert  k1" in first, err
    assert process.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.parametrize("backend", ["pg", "redis"])
def test_install_then_watch(backend: str, dbplex_servers: object, tmp_path: Path, unique_table: str) -> None:
    import dbplex
    from tests.watch.conftest import _drop

    url = dbplex_servers.url(backend)  # type: ignore[attr-defined]
    config = tmp_path / "dbplex.toml"
    config.write_text(f'[sources.{backend}]\nurl = "{url}"\n')
    refused = subprocess.run(
        _dbplex(config, f"{backend}.{unique_table}", "--timeout", "1"), capture_output=True, text=True, check=False
    )
    installed = subprocess.run(
        _dbplex(config, f"{backend}.{unique_table}", "--install"), capture_output=True, text=True, check=False
    )
    watching = subprocess.run(
        _dbplex(config, f"{backend}.{unique_table}", "--timeout", "1"), capture_output=True, text=True, check=False
    )
    with dbplex.open(str(config)) as hub:
        _drop(hub, backend, unique_table)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"Error: source {backend!r}: the changes of {unique_table!r} are not recorded; "
        f"run `dbplex watch --install {backend}.{unique_table}` first"
    )
    assert (installed.returncode, installed.stdout) == (0, f"recording the changes of {backend}.{unique_table}\n")
    assert (watching.returncode, watching.stdout, watching.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuch.t", "Error: unknown source 'nosuch' (configured: pg)"),
        ("pg", "Error: no table to watch: name one as pg.TABLE or with --table TABLE"),
    ],
)
def test_bad_targets_are_one_line_and_exit_2(tmp_path: Path, target: str, message: str) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text('[sources.pg]\nurl = "postgresql://nobody@127.0.0.1:1/none"\n')
    done = subprocess.run(_dbplex(config, target), capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stderr.strip(), done.stdout) == (2, message, "")


def test_prune_then_a_resume_from_before_it_is_one_line_and_exit_2(watched: Watched, tmp_path: Path) -> None:
    hub, source, table = watched.hub, watched.source, watched.table
    if source == "mongo":
        pytest.skip("MongoDB's change streams are the server's oplog: nothing of dbplex's to prune")
    start = hub.watch(source, table, timeout=0.1)
    before = start.position
    start.close()
    hub.execute(source, Put(table, "k1", {"name": "first"}))
    hub.execute(source, Delete(table, "k1"))
    with hub.watch(source, table, after=before, timeout=30, count=2) as changes:
        insert, delete = list(changes)
    config = _config(tmp_path, watched)
    target = f"{source}.{table}"
    pruned = subprocess.run(
        _dbplex(config, target, "--prune", "--before", insert.position, "--json"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (pruned.returncode, json.loads(pruned.stdout)) == (
        0,
        {"source": source, "tables": [table], "before": insert.position, "pruned": 1},
    )
    stale = subprocess.run(
        _dbplex(config, target, "--after", before), capture_output=True, text=True, timeout=120, check=False
    )
    assert stale.returncode == 2
    assert stale.stdout == ""
    assert stale.stderr.startswith(f"Error: source '{source}': the changes of '{table}' up to ")
    assert stale.stderr.count("\n") == 1
    resumed = subprocess.run(
        _dbplex(config, target, "--after", insert.position, "--count", "1", "--json"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (resumed.returncode, json.loads(resumed.stdout)["position"]) == (0, delete.position)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--prune"], "Error: --prune needs --before POSITION, and --before goes with --prune only"),
        (["--before", "1-2-3"], "Error: --prune needs --before POSITION, and --before goes with --prune only"),
        (["--prune", "--before", "1-2-3", "--after", "1-2-3"], "Error: --prune does not go with --after"),
        (["--prune", "--before", "1-2-3", "--install"], "Error: --prune does not go with --install"),
    ],
)
def test_prune_usage_errors_are_one_line_and_exit_2(tmp_path: Path, options: list[str], message: str) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text('[sources.pg]\nurl = "postgresql://nobody@127.0.0.1:1/none"\n')
    done = subprocess.run(_dbplex(config, "pg.t", *options), capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stderr.strip(), done.stdout) == (2, message, "")
