"""Secrets stay out of every output on real servers, and masking keeps up with large outputs."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import dbplex
from dbplex import Put
from dbplex.cli.main import cli
from dbplex.testing.plugin import Servers

#: ten million characters: masking that is quadratic in its input never finishes on this.
TEN_MB = 10_000_000


def run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def write_config(tmp_path: Path, url: str, **fields: Any) -> Path:
    path = tmp_path / "dbplex.toml"
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in fields.items())
    path.write_text(f"[sources.s]\nurl = {json.dumps(url)}\nconnect_timeout = 2\n{extra}")
    return path


def secret() -> str:
    return f"Sekr1t-{uuid.uuid4().hex[:12]}"


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.mark.parametrize("backend", ["pg", "mongo", "redis"])
def test_op_prints_a_10_mb_value_whole(
    backend: str, dbplex_servers: Servers, unique_table: str, tmp_path: Path
) -> None:
    """The CLI scrubs its whole JSON output; on a record holding a 10 MB string it used to hang."""
    value = "x" * TEN_MB
    with dbplex.open({"sources": {"s": {"url": dbplex_servers.url(backend)}}}) as hub:
        hub.execute("s", Put(unique_table, "k10m", {"s": value}))
    result = run(
        write_config(tmp_path, dbplex_servers.url(backend)),
        "op",
        "s",
        f'{{"op": "get", "table": "{unique_table}", "key": "k10m"}}',
    )
    assert result.exit_code == 0, result.output[:500]
    assert json.loads(result.output) == {"rows": [{"key": "k10m", "values": {"s": value}}], "affected": None}


def test_a_server_error_quoting_a_large_parameter_is_raised_whole(open_hub: Any) -> None:
    """PostgreSQL quotes the bad value in its message; scrubbing that message used to take seconds."""
    from dbplex_pg.ops import SQL

    hub = open_hub("pg")
    with pytest.raises(dbplex.QueryError, match="invalid input syntax for type integer") as raised:
        hub.execute("pg", SQL(text="select %s::int", params=["x" * 40_000]))
    assert "x" * 40_000 in str(raised.value)  # what the server said, not masked: no secret in it


def test_a_query_string_password_is_used_and_never_shown(dbplex_servers: Servers, tmp_path: Path) -> None:
    """The sandbox's superuser logs in without checking passwords, so the source works and its
    health and op outputs can be searched for the password."""
    password = secret()
    url = with_query(dbplex_servers.url("pg"), f"password={password}")
    config = write_config(tmp_path, url)
    health = run(config, "health", "--json")
    assert health.exit_code == 0, health.output
    assert password not in health.output
    with dbplex.open(str(config)) as hub:
        assert password not in repr(hub.sources["s"]) and "password=***" in hub.sources["s"].redacted_url


@pytest.mark.parametrize(
    ("backend", "query"),
    [
        ("pg", "password={}"),  # libpq's URI parameter
        ("pg", "password=S3c%{}"),  # a stray %: libpq quotes the raw token in its error
        ("redis", "username=u&password={}"),  # redis-py passes unknown query parameters to the connection
    ],
)
def test_a_wrong_query_string_password_is_never_shown(
    backend: str, query: str, dbplex_servers: Servers, tmp_path: Path
) -> None:
    password = secret()
    url = with_query(dbplex_servers.url(backend).replace("postgres@", "nobody_here@"), query.format(password))
    config = write_config(tmp_path, url)
    op = run(config, "op", "s", '{"op": "get", "table": "t", "key": "k"}')
    assert op.exit_code == 2 and op.output.startswith("Error: source 's'"), op.output
    health = run(config, "health", "--json")
    assert health.exit_code == 1
    assert json.loads(health.output)["sources"][0]["status"] == "DOWN"
    for output in (op.output, health.output):
        assert password not in output and "Traceback" not in output


def test_a_malformed_url_is_echoed_without_its_query_password(dbplex_servers: Servers, tmp_path: Path) -> None:
    password = secret()
    config = write_config(tmp_path, f"postgresql://app@[::1/appdb?password={password}")
    op = run(config, "op", "s", '{"op": "get", "table": "t", "key": "k"}')
    health = run(config, "health", "--json")
    assert op.exit_code == 2 and "not a valid PostgreSQL URL" in op.output, op.output
    assert "password=***" in op.output  # libpq quotes the URL: it is shown, masked
    assert json.loads(health.output)["sources"][0]["status"] == "DOWN"
    assert password not in op.output and password not in health.output


def test_bench_results_are_private_and_name_no_password(
    dbplex_servers: Servers, unique_table: str, tmp_path: Path
) -> None:
    password = secret()
    config = write_config(tmp_path, with_query(dbplex_servers.url("pg"), f"password={password}"))
    out = tmp_path / "result.json"
    small = ["-p", "recordcount=50", "-p", "operationcount=100", "-p", "warmupoperationcount=10"]
    result = run(config, "bench", "run", "-w", "c", "-p", f"table={unique_table}", *small, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert password not in text
    servers = json.loads(text)["environment"]["servers"]
    assert servers[0]["url"].endswith("?password=***")
