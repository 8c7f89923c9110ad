"""The plugin as dbplex's loader sees it: what it registers, and what loading it imports."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

import dbplex
from dbplex import plugins
from dbplex.cli.main import cli
from dbplex_pg import SQL, PgOptions


def test_registers_the_pg_backend() -> None:
    backend = plugins.load().backends["pg"]
    assert backend.schemes == ("postgresql", "postgres")
    assert backend.capabilities == {"transactions", "sql", "fulltext"}
    assert backend.ops == (SQL,) and backend.options is PgOptions
    assert backend.version == version("dbplex-pg") and backend.package == "dbplex-pg"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_both_url_schemes_pick_it(scheme: str) -> None:
    with dbplex.open({"sources": {"db": {"url": f"{scheme}://app@db.example/app"}}}) as hub:
        assert hub.backend("db").name == "pg"


def test_loading_the_plugin_imports_no_driver() -> None:
    code = (
        "import sys, dbplex.plugins as p; p.load();"
        "print(sorted(m for m in ('psycopg', 'psycopg_pool', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_cli_runs_raw_sql_given_as_json(pg_url: str, tmp_path: Path) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text(f"[sources.pg]\nurl = {json.dumps(pg_url)}\n")
    ok = CliRunner().invoke(cli, ["--config", str(config), "op", "pg", '{"op": "pg.sql", "text": "select 1 as x"}'])
    assert ok.exit_code == 0 and json.loads(ok.output) == {"rows": [{"x": 1}], "affected": None}
    bad = CliRunner().invoke(
        cli, ["--config", str(config), "op", "pg", '{"op": "pg.sql", "text": "select * from nope_x"}']
    )
    assert bad.exit_code == 1
    assert bad.output.strip() == "Error: source 'pg': relation \"nope_x\" does not exist (SQLSTATE 42P01)"
