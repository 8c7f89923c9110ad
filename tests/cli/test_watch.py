"""``dbplex health --watch``: refreshed snapshots, plain when not on a terminal, and Ctrl-C ends it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from dbplex.testing.plugin import Servers


def write_config(tmp_path: Path, servers: Servers, metrics: bool) -> Path:
    config = tmp_path / "dbplex.toml"
    config.write_text(
        f'[sources.pg]\nurl = "{servers.url("pg")}"\n\n[sources.cache]\nurl = "{servers.url("redis")}"\n\n'
        f"[metrics]\nenabled = {'true' if metrics else 'false'}\notel = false\n"
    )
    return config


#: wide enough for the watch table on one line per row, whatever the terminal running the tests.
WIDE = {**os.environ, "COLUMNS": "200"}


def watch(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), "health", "--watch", *args]


def test_count_prints_that_many_plain_snapshots_and_exits_0(dbplex_servers: Servers, tmp_path: Path) -> None:
    config = write_config(tmp_path, dbplex_servers, metrics=True)
    proc = subprocess.run(
        watch(config, "--count", "2", "--interval", "0.2"), capture_output=True, text=True, timeout=120, env=WIDE
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Ctrl-C to stop") == 2, proc.stdout
    assert "\x1b[" not in proc.stdout, "control codes in output that is not a terminal"
    first, second = proc.stdout.split("Ctrl-C to stop")[:2]
    for snapshot in (first, second):
        assert "pool in use/idle/max/pending" in snapshot and " pg " in snapshot and " cache " in snapshot
        assert snapshot.count("│ UP ") == 2
    assert "0.0" in second  # the rates exist from the second refresh on
    assert proc.stderr == ""


def test_without_metrics_the_client_rates_say_so(dbplex_servers: Servers, tmp_path: Path) -> None:
    config = write_config(tmp_path, dbplex_servers, metrics=False)
    proc = subprocess.run(watch(config, "--count", "1"), capture_output=True, text=True, timeout=120, env=WIDE)
    assert proc.returncode == 0, proc.stderr
    assert "metrics off" in proc.stdout


def test_ctrl_c_exits_0_without_a_traceback(dbplex_servers: Servers, tmp_path: Path) -> None:
    config = write_config(tmp_path, dbplex_servers, metrics=True)
    proc = subprocess.Popen(
        watch(config, "--interval", "0.2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=WIDE
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # until the first snapshot is out: the command is then in its loop
            if "Ctrl-C to stop" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and stderr == ""


def test_watch_and_json_together_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text("")
    proc = subprocess.run(watch(config, "--json"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith(
        "Error: --watch shows a live table and --json prints one report"
    )
