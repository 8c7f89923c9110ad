"""Whatever goes wrong, the dbplex command prints one line and exits 2 (1 for a server's
refusal); ``--debug`` adds the traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dbplex.cli.main import cli
from dbplex.testing.plugin import Servers

GET = '{"op": "get", "table": "t", "key": "k"}'


def run(config: Path, *args: str, stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=stdin)


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "dbplex.toml"
    path.write_text(f"[sources.s]\nurl = {json.dumps(url)}\nconnect_timeout = 2\n{extra}")
    return path


def assert_one_line(result: Any, exit_code: int, *expected: str) -> None:
    """``result`` failed with ``exit_code`` and a single ``Error:`` line holding ``expected``."""
    assert result.exit_code == exit_code, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output


def nested_put(depth: int) -> str:
    return '{"op": "put", "table": "deep", "key": "k", "values": {"a": ' + "[" * depth + "1" + "]" * depth + "}}"


def test_op_json_that_is_not_utf8_is_named_on_argv_and_stdin(dbplex_servers: Servers, tmp_path: Path) -> None:
    config = write_config(tmp_path, dbplex_servers.url("redis"))
    bad = b'{"op": "get", "table": "t", "key": "\xff"}'
    command = [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), "op", "s"]
    for argv, stdin in (([*command, bad], None), ([*command, "-"], bad)):
        done = subprocess.run(argv, input=stdin, capture_output=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert done.stderr.decode() == "Error: op JSON: not valid UTF-8 (byte 0xff at offset 36); pass UTF-8 text\n"


@pytest.mark.parametrize("backend", ["pg", "mongo", "redis"])
@pytest.mark.parametrize("depth", [600, 1000])
def test_deeply_nested_op_json_is_one_line(backend: str, depth: int, dbplex_servers: Servers, tmp_path: Path) -> None:
    """1,000 levels stop the JSON decoder, 600 the value rules (at most 64): the same on every backend."""
    result = run(write_config(tmp_path, dbplex_servers.url(backend)), "op", "s", "-", stdin=nested_put(depth).encode())
    assert_one_line(result, 2, "nested too deeply")


@pytest.mark.parametrize("backend", ["pg", "mongo", "redis"])
def test_an_integer_beyond_64_bits_is_one_line(backend: str, dbplex_servers: Servers, tmp_path: Path) -> None:
    config = write_config(tmp_path, dbplex_servers.url(backend))
    result = run(config, "op", "s", '{"op": "put", "table": "t", "key": "k", "values": {"a": 18446744073709551616}}')
    assert_one_line(result, 2, "field 'a': int 18446744073709551616 is outside the 64-bit signed range")


@pytest.mark.parametrize("value", ["inf", "1e308"])
@pytest.mark.parametrize("backend", ["pg", "mongo", "redis"])
def test_an_endless_pool_timeout_is_a_configuration_error(
    value: str, backend: str, dbplex_servers: Servers, tmp_path: Path
) -> None:
    config = write_config(tmp_path, dbplex_servers.url(backend), f"pool.timeout = {value}\n")
    assert_one_line(run(config, "op", "s", GET), 2, "at `sources.s.pool.timeout`")


@pytest.mark.parametrize(
    ("scheme_and_query", "expected"),
    [
        ("redis://{}/0?ssl_cert_reqs=bogus", "ssl_cert_reqs"),
        ("rediss://{}/0?ssl_cert_reqs=bogus", "bogus"),
        ("redis://{}/0?protocol=9", "protocol must be either 2 or 3"),
    ],
)
def test_redis_url_options_redis_py_rejects_are_configuration_errors(
    scheme_and_query: str, expected: str, dbplex_servers: Servers, tmp_path: Path
) -> None:
    address = dbplex_servers.url("redis").split("://", 1)[1].split("/", 1)[0]
    config = write_config(tmp_path, scheme_and_query.format(address))
    assert_one_line(run(config, "op", "s", GET), 2, "source 's': a URL option is not valid for redis-py", expected)


def test_mongo_unreadable_tls_file_is_a_configuration_error(dbplex_servers: Servers, tmp_path: Path) -> None:
    config = write_config(tmp_path, dbplex_servers.url("mongo") + "?tlsCAFile=/nonexistent&tls=true")
    assert_one_line(run(config, "op", "s", GET), 2, "source 's': invalid MongoDB URL", "not readable")


def test_mongo_credentials_are_one_line_whatever_the_server_answers(dbplex_servers: Servers, tmp_path: Path) -> None:
    """mongod refuses unknown credentials; the nx-27017 stand-in answers the handshake in a way
    pymongo trips over (a KeyError inside the driver). Either way: one line, no password."""
    url = dbplex_servers.url("mongo").replace("mongodb://", "mongodb://nobody:Pw-n0t-shown@", 1)
    result = run(write_config(tmp_path, url), "op", "s", GET)
    assert_one_line(result, 2)
    assert "Pw-n0t-shown" not in result.output


def test_debug_adds_the_traceback_still_without_secrets(dbplex_servers: Servers, tmp_path: Path) -> None:
    url = dbplex_servers.url("redis").replace("redis://", "redis://app:Pw-n0t-shown@", 1) + "?protocol=9"
    config = write_config(tmp_path, url)
    plain = run(config, "op", "s", GET)
    assert_one_line(plain, 2, "protocol must be either 2 or 3")
    debug = CliRunner().invoke(cli, ["--config", str(config), "--debug", "op", "s", GET])
    assert debug.exit_code == 2
    assert debug.output.startswith("Traceback (most recent call last):")
    assert debug.output.splitlines()[-1] == plain.output.strip()
    assert "Pw-n0t-shown" not in debug.output
