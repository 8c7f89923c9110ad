"""Find the migration files under ``<dir>/<source>/`` and read them.

Every problem is collected (bad names, formats a backend does not run, unknown folders,
unreadable files) so that one run reports them all, each naming its file. Files and folders
starting with ``_`` or ``.`` are ignored (helpers, ``__pycache__``), and so are files whose
suffix is not a migration format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dbplex.migrate.loading import FileProblem, Rules, load
from dbplex.migrate.model import Migration
from dbplex.migrate.naming import NAMING_RULE, parse_file_name

#: every suffix some backend runs; other files (README.md, notes) are not migrations.
MIGRATION_FORMATS = frozenset({"sql", "py"})


@dataclass
class Discovered:
    """Migrations by source (sorted: versioned by version, then repeatables by name) and problems."""

    migrations: dict[str, list[Migration]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def all(self) -> list[Migration]:
        return [m for ms in self.migrations.values() for m in ms]


def _hidden(path: Path) -> bool:
    return path.name.startswith((".", "_"))


def source_folders(directory: Path) -> list[str]:
    """Names of the source folders under ``directory`` (none when it does not exist)."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and not _hidden(p))


def discover(
    directory: Path, rules: Mapping[str, Rules], configured: Iterable[str] = (), *, only: Iterable[str] | None = None
) -> Discovered:
    """Read ``directory/<source>/*`` for each source in ``rules``; another folder is a problem
    that lists the ``configured`` sources (default: those in ``rules``).

    With ``only`` (the sources a command was limited to), a folder of a source that is neither
    configured nor selected is left alone: ``--source pg`` must work against a configuration
    that has no ``mongo`` source while the directory has a ``mongo/`` folder.
    """
    selected = None if only is None else set(only)
    found = Discovered()
    if directory.exists() and not directory.is_dir():
        found.problems.append(f"{directory}: not a directory")
        return found
    for stray in sorted(directory.iterdir()) if directory.is_dir() else []:
        if stray.is_file() and not _hidden(stray) and stray.suffix[1:] in MIGRATION_FORMATS:
            found.problems.append(
                f"{stray}: migration files go in a folder named after their source ({directory}/<source>/)"
            )
    for name in source_folders(directory):
        if name not in rules:
            if selected is not None and name not in selected:
                continue
            known = ", ".join(sorted(set(configured) | set(rules))) or "none"
            found.problems.append(
                f"{directory / name}/: no source named {name!r} in the configuration (configured: {known})"
            )
        else:
            found.migrations[name] = _read_source(directory / name, name, rules[name], found.problems)
    return found


def _read_source(folder: Path, source: str, rules: Rules, problems: list[str]) -> list[Migration]:
    migrations = []
    for path in sorted(folder.iterdir()):
        if _hidden(path) or path.is_dir() or path.suffix[1:] not in MIGRATION_FORMATS:
            continue
        name = parse_file_name(path.name)
        if name is None:
            problems.append(f"{path}: not a migration file name ({NAMING_RULE})")
            continue
        if name.format not in rules.formats:
            runs = ", ".join(f".{f}" for f in sorted(rules.formats))
            problems.append(f"{path}: the backend of source {source!r} runs {runs} migrations only")
            continue
        try:
            migrations.append(load(source, path, name, rules))
        except FileProblem as exc:
            problems.append(str(exc))
    return sorted(migrations, key=order_key)


def order_key(migration: Migration) -> tuple[int, tuple[int, ...], str]:
    """Versioned by version, then repeatables by description (their order of application)."""
    if migration.kind == "versioned":
        return (0, migration.version_key, migration.name)
    return (1, (), migration.description)
