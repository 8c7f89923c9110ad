"""``dbplex bench`` end to end on real servers: run, sweep, report, bad input, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dbplex.cli.main import cli
from dbplex.plugins import default as installed_plugins
from dbplex.testing.plugin import Servers

SMALL = ["-p", "recordcount=200", "-p", "operationcount=600", "-p", "warmupoperationcount=50"]


def _needs(backend: str) -> None:
    if backend not in installed_plugins().backends:
        pytest.skip(f"the {backend} plugin (dbplex-{backend}) is not installed")


def _config(tmp_path: Path, sources: dict[str, str]) -> Path:
    lines = []
    for name, url in sources.items():
        lines += [f"[sources.{name}]", f"url = {json.dumps(url)}", "connect_timeout = 2"]
    path = tmp_path / "dbplex.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _bench(config: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config), "bench", *args])


def _imports_after(args: list[str]) -> list[str]:
    code = (
        "import sys\nfrom dbplex.cli.main import cli\n"
        f"try:\n    cli({args!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('hdrh', 'matplotlib', 'dbplex.bench.engine') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_help_imports_neither_histograms_nor_plots() -> None:
    assert _imports_after(["--help"]) == []
    assert _imports_after(["bench", "--help"]) == []
    assert _imports_after(["bench", "run", "--help"]) == []


def test_bad_workload_key_is_named_before_anything_runs(tmp_path: Path) -> None:
    config = _config(tmp_path, {"cache": "redis://127.0.0.1:1/0"})
    result = _bench(config, "run", "-p", "readproprtion=1")
    assert result.exit_code == 2
    assert (
        "unknown workload property 'readproprtion'" in result.output
        and "did you mean 'readproportion'" in result.output
    )


def test_bad_proportions_name_the_keys(tmp_path: Path) -> None:
    result = _bench(
        _config(tmp_path, {"cache": "redis://127.0.0.1:1/0"}), "run", "-w", "b", "-p", "updateproportion=0.5"
    )
    assert result.exit_code == 2
    assert "add up to 1.45, not 1" in result.output and "updateproportion (-p updateproportion)" in result.output


def test_unreachable_source_stops_before_load(tmp_path: Path, free_port: int) -> None:
    _needs("redis")
    out = tmp_path / "r.json"
    result = _bench(_config(tmp_path, {"cache": f"redis://127.0.0.1:{free_port}/0"}), "run", "--out", str(out), *SMALL)
    assert result.exit_code == 2, result.output
    assert "source 'cache' (redis) is unreachable" in result.output
    assert "Nothing was loaded or run" in result.output
    assert not out.exists()


@pytest.mark.parametrize("backend", ["pg", "mongo", "redis"])
def test_run_writes_a_complete_result(backend: str, dbplex_servers: Servers, unique_table: str, tmp_path: Path) -> None:
    _needs(backend)
    config = _config(tmp_path, {backend: dbplex_servers.url(backend)})
    out, csv_path = tmp_path / "r.json", tmp_path / "r.csv"
    result = _bench(
        config,
        "run",
        "-w",
        "a",
        "-p",
        f"table={unique_table}",
        *SMALL,
        "-t",
        "2",
        "--out",
        str(out),
        "--csv",
        str(csv_path),
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["complete"] is True and document["kind"] == "run"
    assert document["workload"]["workload"]["table"] == unique_table
    assert document["environment"]["servers"][0]["backend"] == backend
    dbplex_run = next(r for r in document["runs"] if r["target"] == "dbplex")
    assert dbplex_run["phases"]["load"]["ops"] == 200
    run = dbplex_run["phases"]["run"]
    assert run["ops"] == 600 and run["errors"] == 0
    assert set(run["ops_by_type"]) == {"read", "update"}
    # pool wait from the pool's own counters: each operation checked one connection out
    assert run["pool_wait"]["checkouts"] == 600 and run["pool_wait"]["mean_us"] >= 0
    assert run["ops_by_type"]["read"]["wait"] is None  # no per-operation clock reads of its own
    targets = {r["target"] for r in document["runs"]}
    if "raw" in targets:
        raw = next(r for r in document["runs"] if r["target"] == "raw")["phases"]["run"]
        assert raw["ops"] == 600 and raw["errors"] == 0 and raw["pool_wait"] is None
        assert document["overheads"][0]["source"] == backend
    assert csv_path.read_text().startswith("source,backend,target")


def test_open_loop_and_worker_processes(dbplex_servers: Servers, unique_table: str, tmp_path: Path) -> None:
    _needs("redis")
    config = _config(tmp_path, {"cache": dbplex_servers.url("redis")})
    out = tmp_path / "r.json"
    args = ["run", "-w", "c", "-p", f"table={unique_table}", *SMALL, "-t", "2", "--processes", "2", "--target", "400"]
    result = _bench(config, *args, "--no-baseline", "--out", str(out))
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    (run,) = [r for r in document["runs"] if r["target"] == "dbplex"]
    assert run["processes"] == 2
    phase = run["phases"]["run"]
    assert phase["ops"] == 600 and phase["target_rate"] == 400
    assert phase["lag"]["summary"]["count"] == 600  # schedule lag of every operation
    assert phase["ops_by_type"]["read"]["service"] is not None  # service time apart from intended-start latency
    assert phase["client_cpu_s"] > 0
    assert phase["pool_wait"]["checkouts"] == 600  # both processes' pools, added up


def test_sweep_from_a_spec_recommends_a_pool_size_and_report_draws_it(
    dbplex_servers: Servers, unique_table: str, tmp_path: Path
) -> None:
    _needs("redis")
    config = _config(tmp_path, {"cache": dbplex_servers.url("redis")})
    out = tmp_path / "s.json"
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'workload = "c"\npool_sizes = [1, 2]\nthreads = [1, 8]\n[properties]\ntable = "{unique_table}"\nrecordcount = 200\n'
    )
    args = [
        "sweep",
        "--spec",
        str(spec),
        "--threads",
        "1,2",
        "-p",
        "operationcount=600",
        "-p",
        "warmupoperationcount=50",
    ]
    result = _bench(config, *args, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "recommended pool size for cache:" in result.output
    document = json.loads(out.read_text())
    assert document["workload"]["workload"]["recordcount"] == 200  # from the spec, under the -p overrides
    (verdict,) = document["sweep"]["sources"]
    assert {(p["threads"], p["pool_size"]) for p in verdict["points"]} == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert verdict["recommended_pool_size"] in (1, 2)
    assert verdict["rule_of_thumb"] == 2 * (os.cpu_count() or 1) + 1
    report = CliRunner().invoke(cli, ["bench", "report", str(out), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    page = (tmp_path / "report" / "index.html").read_text()
    for image in ("s-throughput.png", "s-latency.png", "s-sweep-cache.png"):
        assert (tmp_path / "report" / image).stat().st_size > 1000
        assert image in page


def _wait_for_records(url: str, table: str, process: subprocess.Popen[str]) -> None:
    """Until the benchmark has begun loading ``table`` (so it is past its checks)."""
    import dbplex

    deadline = time.monotonic() + 60
    with dbplex.open({"sources": {"s": {"url": url}}}) as hub:
        while not hub.execute("s", dbplex.Scan(table, "", 1)).rows:
            assert process.poll() is None and time.monotonic() < deadline, "the benchmark did not start loading"
            time.sleep(0.2)


def test_ctrl_c_writes_partial_results_marked_incomplete(
    dbplex_servers: Servers, unique_table: str, tmp_path: Path
) -> None:
    _needs("redis")
    config = _config(tmp_path, {"cache": dbplex_servers.url("redis")})
    out = tmp_path / "r.json"
    command = [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), "bench", "run", "-w", "c"]
    command += [
        "-p",
        f"table={unique_table}",
        "-p",
        "recordcount=100",
        "-p",
        "operationcount=100000000",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell may ignore SIGINT
    )
    _wait_for_records(dbplex_servers.url("redis"), unique_table, process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    document = json.loads(out.read_text())
    assert document["complete"] is False
    assert document["incomplete_reason"].startswith("interrupted (Ctrl-C)")
