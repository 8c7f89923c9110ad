"""``dbplex new-plugin``: the skeleton of a backend plugin package, every contract left to fill in.

The files come from ``string.Template`` files in ``templates/`` (package data), and the contract
classes from the Protocols themselves (:mod:`dbplex.scaffold.contracts`). The package is written
into a temporary directory beside the target and renamed into place, so a failure leaves nothing
half-written.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from string import Template

from dbplex.errors import DbplexError

#: lowercase letters, digits and single underscores, starting with a letter: a Python module name
#: part, an entry-point name and (underscores turned into hyphens) a URL scheme.
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


class ScaffoldError(DbplexError):
    """A plugin name or target directory ``dbplex new-plugin`` cannot use."""


@dataclass(frozen=True)
class PluginNames:
    """Every name derived from the one the author gives."""

    name: str  # backend and entry-point name: "my_db"

    @property
    def package(self) -> str:
        return f"dbplex-{self.scheme}"

    @property
    def module(self) -> str:
        return f"dbplex_{self.name}"

    @property
    def scheme(self) -> str:
        return self.name.replace("_", "-")

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def url_env(self) -> str:
        return f"DBPLEX_TEST_{self.name.upper()}_URL"


def plugin_names(name: str) -> PluginNames:
    """The names for ``name``, or a ScaffoldError saying what a name must look like."""
    if not _NAME.fullmatch(name):
        raise ScaffoldError(
            f"plugin name {name!r}: use lowercase letters, digits and single underscores, starting with a "
            "letter (e.g. mariadb, my_db); it names the backend, the module dbplex_NAME and the URL scheme"
        )
    return PluginNames(name)


def dbplex_requirement(installed: str | None = None) -> str:
    """The ``dbplex`` range a new plugin declares: from the installed minor release to the next
    one that may change the hook specs (the next minor before 1.0, the next major after)."""
    text = installed or version("dbplex")
    found = re.match(r"(\d+)\.(\d+)", text)
    if found is None:
        raise ScaffoldError(f"the installed dbplex has version {text!r}, not MAJOR.MINOR...")
    major, minor = int(found[1]), int(found[2])
    upper = f"0.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


def _contracts(names: PluginNames) -> dict[str, str]:
    """The contract modules: the connector, and the optional contracts' classes."""
    from dbplex.analyze import Analyzer
    from dbplex.backend_plugin import HOOK_ARGUMENTS
    from dbplex.bench.baseline import Baseline
    from dbplex.changes.feed import AsyncChangeFeed, ChangeFeed
    from dbplex.check.backend import Checker
    from dbplex.migrate import Migrator
    from dbplex.partition import Partitioner
    from dbplex.partition.backend import AsyncPartitionReader
    from dbplex.pooling import Connector
    from dbplex.scaffold.contracts import Imports, stub_class
    from dbplex.schema.model import Describer
    from dbplex.slowlog import SlowLog

    hook_types = {"source": "Source", "pool": "Pool", "admin": "Pool", "pool_size": "int"}

    def init(hook: str) -> dict[str, str]:
        return {arg: hook_types[arg] for arg in HOOK_ARGUMENTS[hook]}

    connector_imports = Imports({"typing": {"Any"}, "dbplex": {"Source"}})
    connector = stub_class(
        Connector,
        f"{names.camel}Connector",
        where=f"{names.module}/connector.py",
        init=init("connect"),
        attributes={},
        imports=connector_imports,
        renames={"C": "Connection"},
    )
    optional_imports = Imports({"dbplex": {"Pool", "Source"}})
    where = f"{names.module}/optional.py"
    #: contract, the hook that returns it, and a value for each attribute it declares
    optional: list[tuple[type, str, dict[str, tuple[str, str]]]] = [
        (
            Migrator,
            "migrate",
            {
                "formats": ('frozenset({"py"})', "the migration file formats this migrator runs"),
                "file_options": ("frozenset()", "the per-file options it understands"),
            },
        ),
        (Partitioner, "partition", {}),
        (AsyncPartitionReader, "async_partition", {}),
        (Analyzer, "analyze", {}),
        (SlowLog, "slowlog", {}),
        (
            Checker,
            "check",
            {
                "reads": ("0", "rows read so far, which the check report shows"),
                "ordered": ("True", "whether batches come in key order, so mirrors can bisect"),
            },
        ),
        (Describer, "describe", {}),
        (ChangeFeed, "watch", {}),
        (AsyncChangeFeed, "async_watch", {}),
        (
            Baseline,
            "bench_baseline",
            {"label": (repr(f"{names.name} driver"), "the driver and its version, shown in reports")},
        ),
    ]
    stubs = [
        stub_class(
            contract,
            f"{names.camel}{contract.__name__}",
            where=where,
            init=init(hook),
            attributes=attributes,
            imports=optional_imports,
        )
        for contract, hook, attributes in optional
    ]
    return {
        "connector_imports": connector_imports.lines(),
        "connector_class": connector,
        "optional_imports": optional_imports.lines(),
        "optional_classes": "\n\n".join(stubs),
    }


#: output path (a Template itself) -> template file under ``templates/``.
FILES = {
    "pyproject.toml": "pyproject.toml",
    "README.md": "README.md",
    ".gitignore": "gitignore",
    "src/$module/__init__.py": "__init__.py",
    "src/$module/py.typed": "py.typed",
    "src/$module/plugin.py": "plugin.py",
    "src/$module/options.py": "options.py",
    "src/$module/connector.py": "connector.py",
    "src/$module/execute.py": "execute.py",
    "src/$module/health.py": "health.py",
    "src/$module/optional.py": "optional.py",
    "tests/test_conformance.py": "test_conformance.py",
}


def render(names: PluginNames, spec: str) -> dict[str, str]:
    """Every file of the package (relative path -> text); ``spec`` is the ``dbplex`` version range."""
    values = {
        "name": names.name,
        "package": names.package,
        "module": names.module,
        "scheme": names.scheme,
        "Camel": names.camel,
        "url_env": names.url_env,
        "spec": spec,
        **_contracts(names),
    }
    templates = resources.files("dbplex.scaffold") / "templates"
    return {
        Template(path).substitute(values): Template((templates / f"{source}.tmpl").read_text()).substitute(values)
        for path, source in FILES.items()
    }


def default_directory(name: str) -> Path:
    """Where the package goes without ``--dir``: ``./dbplex-NAME``."""
    return Path(plugin_names(name).package)


def generate(name: str, directory: Path | None = None, *, spec: str | None = None) -> tuple[Path, list[str]]:
    """Write the plugin package ``name`` into ``directory`` (default ``./dbplex-NAME``), which must
    not exist or be empty; return the directory and the files written, relative to it."""
    names = plugin_names(name)
    target = (directory or Path(names.package)).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target}: exists and is not an empty directory; choose another with --dir")
    if not target.parent.is_dir():
        raise ScaffoldError(f"{target.parent}: no such directory; create it first or choose another --dir")
    files = render(names, spec or dbplex_requirement())
    staging = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir()  # the user's umask applies, as it would to a mkdir of theirs
    try:
        for path, text in files.items():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            (staging / path).write_text(text)
        if target.exists():
            target.rmdir()  # empty, checked above
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, sorted(files)
