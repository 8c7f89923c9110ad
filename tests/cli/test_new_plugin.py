"""``dbplex new-plugin``: a package that installs, is listed, fails honestly until filled in, and
passes the conformance suite once filled in from examples/dbplex-sqlite."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dbplex import Backend
from dbplex.analyze import Analyzer
from dbplex.backend_plugin import backend_plugin
from dbplex.bench.baseline import Baseline
from dbplex.changes.feed import AsyncChangeFeed
from dbplex.cli.main import cli
from dbplex.migrate import Migrator
from dbplex.partition import Partitioner
from dbplex.partition.backend import AsyncPartitionReader
from dbplex.pooling import Connector
from dbplex.scaffold import dbplex_requirement
from dbplex.slowlog import SlowLog

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
SQLITE = ROOT / "examples" / "dbplex-sqlite"


def new_plugin(*args: str) -> Any:
    return CliRunner().invoke(cli, ["new-plugin", *args])


def assert_one_line(result: Any, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    for text in expected:
        assert text in result.output


@pytest.mark.parametrize("name", ["My-DB", "my-db", "9db", "my__db", "db_", ""])
def test_a_name_that_cannot_be_a_module_and_a_scheme_is_refused(tmp_path: Path, name: str) -> None:
    assert_one_line(new_plugin(name, "--dir", str(tmp_path / "p")), f"plugin name {name!r}", "my_db")
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_target_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "p"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    assert_one_line(new_plugin("mydb", "--dir", str(target)), str(target), "not an empty directory")
    assert [p.name for p in tmp_path.iterdir()] == ["p"]  # no staging directory left behind
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    assert_one_line(new_plugin("mydb", "--dir", str(target / "mine.txt")), "not an empty directory")
    assert (target / "mine.txt").read_text() == "keep"


def test_a_missing_parent_is_refused_and_an_empty_target_is_used(tmp_path: Path) -> None:
    assert_one_line(new_plugin("mydb", "--dir", str(tmp_path / "no" / "p")), "no such directory")
    (tmp_path / "empty").mkdir()
    result = new_plugin("mydb", "--dir", str(tmp_path / "empty"))
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1
    assert (tmp_path / "empty" / "src" / "dbplex_mydb" / "plugin.py").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


def test_the_default_directory_is_dbplex_name_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert new_plugin("my_db").exit_code == 0
    package = tmp_path / "dbplex-my-db"
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["name"] == "dbplex-my-db"
    assert project["entry-points"]["dbplex"] == {"my_db": "dbplex_my_db.plugin:plugin"}
    assert project["dependencies"] == [f"dbplex{dbplex_requirement()}"]
    assert project["optional-dependencies"]["test"] == [f"dbplex[test]{dbplex_requirement()}"]
    plugin = (package / "src" / "dbplex_my_db" / "plugin.py").read_text()
    assert 'schemes=("my-db",)' in plugin
    assert "DBPLEX_TEST_MY_DB_URL" in (package / "tests" / "test_conformance.py").read_text()


@pytest.mark.parametrize(
    ("installed", "spec"), [("0.1.0", ">=0.1,<0.2"), ("0.12.3.dev1", ">=0.12,<0.13"), ("2.4.0", ">=2.4,<3")]
)
def test_the_dbplex_range_ends_before_the_next_release_that_may_change_the_hooks(installed: str, spec: str) -> None:
    assert dbplex_requirement(installed) == spec


CONTRACTS = [
    ("connector.py", "MydbConnector", Connector),
    ("optional.py", "MydbMigrator", Migrator),
    ("optional.py", "MydbPartitioner", Partitioner),
    ("optional.py", "MydbAsyncPartitionReader", AsyncPartitionReader),
    ("optional.py", "MydbAsyncChangeFeed", AsyncChangeFeed),
    ("optional.py", "MydbAnalyzer", Analyzer),
    ("optional.py", "MydbSlowLog", SlowLog),
    ("optional.py", "MydbBaseline", Baseline),
]


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A generated package ``mydb`` whose module is importable in this process, then forgotten."""
    assert new_plugin("mydb", "--dir", str(tmp_path / "p")).exit_code == 0
    monkeypatch.syspath_prepend(str(tmp_path / "p" / "src"))
    yield tmp_path / "p"
    for name in [m for m in sys.modules if m == "dbplex_mydb" or m.startswith("dbplex_mydb.")]:
        del sys.modules[name]


@pytest.mark.parametrize(("file", "name", "contract"), CONTRACTS, ids=[c[1] for c in CONTRACTS])
def test_each_contract_stub_states_every_member_of_its_protocol(
    generated: Path, file: str, name: str, contract: type
) -> None:
    tree = ast.parse((generated / "src" / "dbplex_mydb" / file).read_text())
    stub = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name)
    methods = {node.name for node in stub.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    attributes = {
        node.target.id for node in stub.body if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    assert methods == {n for n in vars(contract) if not n.startswith("_")} | {"__init__"}
    assert attributes == set(inspect.get_annotations(contract))


def test_every_stub_is_a_target_its_hook_accepts_and_raises_naming_what_to_write(generated: Path) -> None:
    """What an author gets on adding the commented lines of plugin.py: targets that resolve."""
    hooks = backend_plugin(
        Backend(name="mydb", schemes=("mydb",)),
        connect="dbplex_mydb.connector:MydbConnector",
        query="dbplex_mydb.execute:run",
        health="dbplex_mydb.health:check",
        migrate="dbplex_mydb.optional:MydbMigrator",
        partition="dbplex_mydb.optional:MydbPartitioner",
        async_partition="dbplex_mydb.optional:MydbAsyncPartitionReader",
        async_watch="dbplex_mydb.optional:MydbAsyncChangeFeed",
        analyze="dbplex_mydb.optional:MydbAnalyzer",
        slowlog="dbplex_mydb.optional:MydbSlowLog",
        bench_baseline="dbplex_mydb.optional:MydbBaseline",
    )
    hooks.resolve_targets()  # a PluginError names any target whose parameters do not fit
    plugin = (generated / "src" / "dbplex_mydb" / "plugin.py").read_text()
    for line in (
        "migrate=",
        "partition=",
        "async_partition=",
        "async_watch=",
        "analyze=",
        "slowlog=",
        "bench_baseline=",
    ):
        assert f"#   {line}" in plugin  # offered, not declared: their sections stay skipped until written
    from dbplex_mydb.optional import MydbBaseline

    with pytest.raises(NotImplementedError, match=r"MydbBaseline\.get in dbplex_mydb/optional\.py, not written yet"):
        MydbBaseline(None, 1).get("t", "k", None)


# -- the whole round, through pip and pytest in subprocesses ---------------------------------------

NAME = "mylite"
MODULE = f"dbplex_{NAME}"


def fill_from_sqlite(package: Path) -> None:
    """Write the SQLite example's code into the generated stubs, as an author would copy it."""
    renames = {
        "dbplex_sqlite": MODULE,
        "SqliteConnector": "MyliteConnector",
        "SqliteOptions": "MyliteOptions",
        '"sqlite.execute"': f'"{NAME}.execute"',
    }
    for module in ("connect", "connector", "errors", "execute", "health", "ops", "options", "translate"):
        text = (SQLITE / "src" / "dbplex_sqlite" / f"{module}.py").read_text()
        for old, new in renames.items():
            text = text.replace(old, new)
        (package / "src" / MODULE / f"{module}.py").write_text(text)
    plugin = package / "src" / MODULE / "plugin.py"
    text = plugin.read_text()
    assert "capabilities=frozenset()," in text
    plugin.write_text(text.replace("capabilities=frozenset(),", 'capabilities=frozenset({"transactions"}),'))
    # the test class: SQLite's answers to what the generated one leaves to write (no server to end sessions)
    tests = package / "tests" / "test_conformance.py"
    example = (SQLITE / "tests" / "test_conformance.py").read_text()
    overrides = example[example.index("    @pytest.fixture\n    def unreachable_url") :].replace(
        "sqlite:///", f"{NAME}:///"
    )
    no_server = re.search(r"^NO_SERVER = .*$", example, re.M)
    assert no_server is not None
    head = tests.read_text().partition("    def tagged_url")[0]
    head = head.replace("import os\n", "import os\nfrom pathlib import Path\nfrom typing import Any\n")
    tests.write_text(head.replace("URL_ENV = ", f"{no_server[0]}\nURL_ENV = ") + overrides)


class Installed:
    """The generated package installed with pip into a directory of its own, on PYTHONPATH for
    subprocesses, so the test environment itself is not changed."""

    def __init__(self, package: Path, target: Path) -> None:
        self.package = package
        self.target = target
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DBPLEX_")}
        self.env.update(PYTHONPATH=str(target), DBPLEX_PLUGINS=NAME, DBPLEX_STRICT_PLUGINS="1")

    def install(self) -> None:
        """A wheel built by the package's own build backend; offline: dbplex is already there."""
        argv = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
        argv += ["--upgrade", "--target", str(self.target), str(self.package)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *argv],
            cwd=self.package,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )

    def pytest(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "pytest", "-q", "-p", "no:cacheprovider", *args, **env)


@pytest.mark.skipif(
    importlib.util.find_spec("hatchling") is None,
    reason="hatchling, the generated package's build backend, is needed to build it offline (constraints/dev.in)",
)
def test_a_generated_plugin_installs_is_listed_fails_honestly_and_passes_once_filled_in(tmp_path: Path) -> None:
    """The slowest test here (two wheel builds, three pytest runs in subprocesses): about 20 s."""
    package = tmp_path / f"dbplex-{NAME}"
    assert new_plugin(NAME, "--dir", str(package)).exit_code == 0
    installed = Installed(package, tmp_path / "site")
    installed.install()

    listed = installed.run("-m", "dbplex.cli.main", "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    plugins = json.loads(listed.stdout)
    assert plugins["load_errors"] == []
    [plugin] = plugins["plugins"]
    assert (plugin["name"], plugin["package"]) == (NAME, f"dbplex-{NAME}")
    assert plugin["backends"][0]["schemes"] == [NAME]
    assert {"dbplex_connect", "dbplex_pool", "dbplex_query", "dbplex_health"} <= set(plugin["hooks"])

    url = {f"DBPLEX_TEST_{NAME.upper()}_URL": f"{NAME}:///{tmp_path}/conformance.db"}
    unfilled = installed.pytest(**url)
    assert unfilled.returncode == 1, unfilled.stdout + unfilled.stderr
    assert "NotImplementedError" in unfilled.stdout
    assert "MyliteConnector.open in dbplex_mylite/connector.py, not written yet" in unfilled.stdout
    assert re.search(r"\d+ failed", unfilled.stdout), unfilled.stdout[-3000:]

    without_url = installed.pytest("-k", "test_put_then_get_round_trips_every_type")
    assert without_url.returncode == 1, without_url.stdout
    assert f"set DBPLEX_TEST_{NAME.upper()}_URL to the URL of a {NAME} database" in without_url.stdout

    fill_from_sqlite(package)
    installed.install()
    filled = installed.pytest(**url)
    assert filled.returncode == 0, filled.stdout[-5000:] + filled.stderr
    assert re.search(r"\d+ passed", filled.stdout)
    assert " failed" not in filled.stdout and " error" not in filled.stdout
