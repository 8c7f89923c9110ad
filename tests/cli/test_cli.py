"""The dbplex command: JSON output, exit codes, and one-line errors without secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from dbplex.cli.main import SUBCOMMANDS, cli
from dbplex.plugins import STRICT_ENV
from tests.core.test_backend_plugin import BAD_TARGETS, TARGETS_SOURCE
from tests.core.test_plugins import write_distribution

SECRET = "n0t-in-output-7f3a"


def run(*args: str, config: Path | None = None, stdin: str | None = None) -> Any:
    prefix = ["--config", str(config)] if config else []
    return CliRunner().invoke(cli, [*prefix, *args], input=stdin)


def write_config(tmp_path: Path, sources: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, fields in sources.items():
        lines.append(f"[sources.{name}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in fields.items())
    path = tmp_path / "dbplex.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_help_imports_no_database_driver() -> None:
    code = (
        "import sys\n"
        "from dbplex.cli.main import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in ('psycopg', 'psycopg_pool', 'pymongo', 'redis', 'sqlalchemy') if m in sys.modules)\n"
        "print('DRIVERS', loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Usage:" in out and "DRIVERS []" in out


def test_help_and_import_load_no_command_group_metadata_or_engine() -> None:
    """What keeps start-up short: ``--help`` imports no lazy group (bench, sandbox, ...), no
    ``importlib.metadata``, no rich; ``import dbplex`` imports neither the hub nor pluggy."""
    heavy = ("dbplex.cli.bench", "dbplex.cli.sandbox", "dbplex.cli.migrate", "dbplex.cli.partition", "rich")
    heavy += ("importlib.metadata", "dbplex.partition.scatter", "dbplex.cli.metrics")
    heavy += ("dbplex.metrics", "prometheus_client", "opentelemetry")
    code = (
        "import sys\n"
        "import dbplex\n"
        "print('IMPORT', sorted(m for m in ('dbplex.hub', 'pluggy', 'importlib.metadata', 'prometheus_client', 'opentelemetry') if m in sys.modules))\n"
        "from dbplex.cli.main import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HELP', sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "IMPORT []" in out and "HELP []" in out
    assert all(
        f"  {name} " in out for name in ("analyze", "bench", "metrics", "migrate", "partition", "sandbox", "plugins")
    )


def test_lazy_commands_are_listed_with_their_own_help() -> None:
    ctx = click.Context(cli)
    assert set(SUBCOMMANDS) <= set(cli.list_commands(ctx))
    for name, lazy in SUBCOMMANDS.items():
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command)
        assert not isinstance(command, click.Group) or command.list_commands(ctx)
        assert command.get_short_help_str(1000) == lazy.short_help


def test_version_is_read_when_asked() -> None:
    import dbplex

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and dbplex.__version__ in result.output


def test_plugins_json_lists_the_three_backends_without_load_errors() -> None:
    result = run("plugins", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    backends = {b["name"]: b for p in data["plugins"] for b in p["backends"]}
    assert {"pg", "mongo", "redis", "redis_cluster"} <= set(backends)
    assert "postgresql" in backends["pg"]["schemes"] and "mongodb" in backends["mongo"]["schemes"]
    assert data["load_errors"] == []
    pg_plugin = next(p for p in data["plugins"] if any(b["name"] == "pg" for b in p["backends"]))
    assert pg_plugin["package"] == "dbplex-pg" and "dbplex_query" in pg_plugin["hooks"]


@pytest.mark.parametrize("backend", ["pg", "mongo", "redis"])
def test_op_round_trips_put_get_scan_delete(
    backend: str, dbplex_servers: Any, tmp_path: Path, unique_table: str
) -> None:
    config = write_config(tmp_path, {backend: {"url": dbplex_servers.url(backend)}})

    def op(payload: dict[str, Any]) -> dict[str, Any]:
        result = run("op", backend, json.dumps({"table": unique_table, **payload}), config=config)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)  # type: ignore[no-any-return]

    assert op({"op": "put", "key": "k1", "values": {"a": 1, "s": "é"}})["affected"] == 1
    assert op({"op": "put", "key": "k2", "values": {"a": 2}})["affected"] == 1
    assert op({"op": "get", "key": "k1"})["rows"] == [{"key": "k1", "values": {"a": 1, "s": "é"}}]
    assert [r["key"] for r in op({"op": "scan", "start_key": "k", "limit": 10})["rows"]] == ["k1", "k2"]
    assert op({"op": "delete", "key": "k1"})["affected"] == 1
    assert op({"op": "get", "key": "k1"})["rows"] == []


def test_op_reads_json_from_stdin(dbplex_servers: Any, tmp_path: Path, unique_table: str) -> None:
    config = write_config(tmp_path, {"r": {"url": dbplex_servers.url("redis")}})
    result = run("op", "r", "-", config=config, stdin=json.dumps({"op": "get", "table": unique_table, "key": "x"}))
    assert result.exit_code == 0 and json.loads(result.output) == {"rows": [], "affected": None}


def test_malformed_op_json_names_the_field_and_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"r": {"url": "redis://127.0.0.1:1/0"}})
    result = run("op", "r", '{"op": "get", "table": "t", "key": 7}', config=config)
    assert result.exit_code == 2
    assert result.output.strip() == "Error: op JSON: Expected `str`, got `int` - at `key`"


def test_invalid_config_names_file_and_field_and_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"r": {"url": "redis://x", "connect_timeout": "soon"}})
    result = run("health", config=config)
    assert result.exit_code == 2
    assert f"{config}: Expected `float`, got `str` - at `sources.r.connect_timeout`" in result.output


@pytest.fixture
def broken_plugins(tmp_path: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Distributions whose plugins each declare one bad target, installed on PYTHONPATH for a subprocess.

    Returns the subprocess environment and, by backend name, the load error expected for it.
    """
    expected = {}
    for case in BAD_TARGETS:
        hook, target, fault = case.values
        backend = str(case.id).replace("-", "_")
        module = f"dbplex_fake_{backend}"
        target, fault = str(target).format(module=module), str(fault).format(module=module)
        source = (
            "from dbplex import Backend\nfrom dbplex.backend_plugin import backend_plugin\n"
            f"{TARGETS_SOURCE}\n"
            f"plugin = backend_plugin(Backend(name={backend!r}, schemes=({backend!r},)), {hook}={target!r})\n"
        )
        write_distribution(tmp_path, backend, source, attribute="plugin")
        package = f"dbplex-fake-{backend}"
        expected[backend] = {
            "name": f"fake_{backend}",
            "package": package,
            "error": f"PluginError: {package}: hook {hook!r}, target {target!r}: {fault}",
        }
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "1000"}
    env.pop(STRICT_ENV, None)
    return env, expected


def test_plugins_lists_each_bad_target_as_a_load_error_and_still_loads_the_others(
    broken_plugins: tuple[dict[str, str], dict[str, dict[str, str]]],
) -> None:
    env, expected = broken_plugins
    command = [sys.executable, "-m", "dbplex.cli.main", "plugins"]
    proc = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(data["load_errors"], key=lambda e: e["name"]) == sorted(expected.values(), key=lambda e: e["name"])
    loaded = {b["name"] for p in data["plugins"] for b in p["backends"]}
    assert {"pg", "mongo", "redis", "redis_cluster"} <= loaded and not loaded & set(expected)

    text = subprocess.run(command, capture_output=True, text=True, env=env)
    assert text.returncode == 0, text.stderr
    for error in expected.values():
        assert f"failed to load {error['name']} ({error['package']}): {error['error']}" in text.stdout

    strict = subprocess.run(command, capture_output=True, text=True, env={**env, STRICT_ENV: "1"})
    assert strict.returncode == 2 and strict.stderr.startswith("Error: dbplex-fake-"), strict.stderr
    assert "Traceback" not in strict.stderr and len(strict.stderr.splitlines()) == 1


def test_unknown_scheme_lists_installed_backends_names_no_invented_package_and_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"legacy": {"url": f"mysql://app:{SECRET}@db/x"}})
    result = run("health", config=config)
    assert result.exit_code == 2
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output
    assert result.output.startswith(
        "Error: source 'legacy': no installed backend handles 'mysql://'; installed backends: "
    )
    assert "pg (postgresql, postgres)" in result.output and "mongo (mongodb, mongodb+srv)" in result.output
    assert "sqlite (sqlite)" in result.output and "no package known to dbplex claims it" in result.output
    assert "pip install" not in result.output and SECRET not in result.output


def test_a_scheme_of_dbplex_s_own_plugin_left_out_names_its_package(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"docs": {"url": "mongodb://127.0.0.1:1/db"}})
    env = {**os.environ, "DBPLEX_DISABLE_PLUGINS": "mongo", "DBPLEX_CONFIG": str(config), "COLUMNS": "1000"}
    proc = subprocess.run([sys.executable, "-m", "dbplex.cli.main", "health"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "no installed backend handles 'mongodb://'" in proc.stderr
    assert proc.stderr.rstrip().endswith(
        "dbplex-mongo is installed but not loaded: DBPLEX_PLUGINS or DBPLEX_DISABLE_PLUGINS leaves out mongo"
    )


@pytest.mark.parametrize(
    ("backend", "url"),
    [
        ("pg", f"postgresql://app:{SECRET}@127.0.0.1:{{port}}/db"),
        ("mongo", f"mongodb://app:{SECRET}@127.0.0.1:{{port}}/db"),
        ("redis", f"redis://app:{SECRET}@127.0.0.1:{{port}}/0"),
    ],
)
def test_unreachable_source_is_named_without_password_and_exits_2(
    backend: str, url: str, tmp_path: Path, free_port: int
) -> None:
    config = write_config(tmp_path, {"gone": {"url": url.format(port=free_port), "connect_timeout": 2}})
    result = run("op", "gone", '{"op": "get", "table": "t", "key": "k"}', config=config)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: source 'gone'") and SECRET not in result.output
    assert "Traceback" not in result.output


def test_health_exit_code_follows_required_sources(dbplex_servers: Any, tmp_path: Path, free_port: int) -> None:
    live = {"url": dbplex_servers.url("redis")}
    down = {"url": f"redis://127.0.0.1:{free_port}/0", "connect_timeout": 1}
    optional = write_config(tmp_path, {"cache": live, "analytics": {**down, "required": False}})
    result = run("health", "--json", config=optional)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["status"] == "DEGRADED" and report["ready"] is True
    assert {s["source"]: s["status"] for s in report["sources"]} == {"cache": "UP", "analytics": "DOWN"}

    required = write_config(tmp_path, {"cache": live, "analytics": down})
    result = run("health", config=required)
    assert result.exit_code == 1 and "NOT ready" in result.output


def test_error_output_of_the_real_command_has_no_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"x": {"url": "nosuch://h"}})
    proc = subprocess.run(
        [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), "health"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith("Error: source 'x': no installed backend handles 'nosuch://'")
        and "Traceback" not in proc.stderr
    )
