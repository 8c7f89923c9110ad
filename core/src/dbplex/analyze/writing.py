"""``dbplex analyze --write-migrations DIR`` and ``dbplex schema diff --write-migration DIR``:
each proposed migration as a versioned migration file.

A plugin renders the file (its analyzer's :meth:`~dbplex.analyze.Analyzer.index_migration`, or
its describer's migration aligning ``schema diff``'s B); this module numbers it after the highest
version already in ``DIR/<source>/`` (the migration engine's own naming rules,
:mod:`dbplex.migrate.naming`) and writes every file or none. A migration a pending file of the
folder already proposes (same description) is skipped, so a second run before
``dbplex migrate up`` does not propose it twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dbplex.analyze.model import MigrationFile
from dbplex.errors import DbplexError
from dbplex.migrate.discovery import MIGRATION_FORMATS
from dbplex.migrate.naming import next_version, parse_file_name

if TYPE_CHECKING:
    from dbplex.analyze.run import SourceAnalysis
    from dbplex.hub import Hub

_DESCRIPTION = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Planned:
    """One migration to write, or (``existing`` set) one already in the folder."""

    source: str
    path: Path
    text: str
    #: the file of the folder that already proposes this migration; nothing is written then.
    existing: Path | None = None


def plan(directory: Path, proposals: dict[str, list[MigrationFile]]) -> list[Planned]:
    """Where each source's proposed migrations go: ``DIR/<source>/V<next>__<description>.<suffix>``."""
    planned: list[Planned] = []
    for source, files in proposals.items():
        folder = directory / source
        versions: list[str] = []
        described: dict[str, Path] = {}
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            name = parse_file_name(path.name)
            if name is not None and name.version is not None:
                versions.append(name.version)
                described.setdefault(name.description, path)
        for file in files:
            if not _DESCRIPTION.fullmatch(file.description) or file.suffix not in MIGRATION_FORMATS:
                raise DbplexError(
                    f"source {source!r}: its plugin proposed a migration named {file.description!r}.{file.suffix}, "
                    "which is not a migration file name (a bug in the plugin)"
                )
            if file.description in described:
                planned.append(Planned(source, described[file.description], file.text, described[file.description]))
                continue
            version = next_version(versions)
            versions.append(version)
            path = folder / f"V{version}__{file.description}.{file.suffix}"
            described[file.description] = path
            planned.append(Planned(source, path, file.text))
    return planned


def proposals(hub: Hub, analyses: list[SourceAnalysis]) -> dict[str, list[MigrationFile]]:
    """Each analysed source's proposed indexes as its analyzer renders them (one per index name)."""
    found: dict[str, list[MigrationFile]] = {}
    for analysis in analyses:
        indexes = {f.index.name: f.index for f in analysis.findings if f.index is not None}
        if indexes:
            analyzer = hub.analyzer(analysis.source)
            found[analysis.source] = [analyzer.index_migration(index) for _, index in sorted(indexes.items())]
    return found


def write(planned: list[Planned]) -> list[Path]:
    """Write every planned file that is not already there, all or none; the paths written.

    A file that exists by then (another run wrote it) is refused; the files this call wrote
    before are removed again.
    """
    written: list[Path] = []
    try:
        for item in planned:
            if item.existing is not None:
                continue
            item.path.parent.mkdir(parents=True, exist_ok=True)
            with item.path.open("x", encoding="utf-8") as out:
                written.append(item.path)
                out.write(item.text)
    except FileExistsError:
        _undo(written)
        raise DbplexError(f"{item.path}: already exists; nothing was written, run again") from None
    except OSError as exc:
        _undo(written)
        raise DbplexError(f"{item.path}: cannot write ({exc.strerror}); nothing was written") from None
    return written


def _undo(written: list[Path]) -> None:
    for path in written:
        path.unlink(missing_ok=True)
