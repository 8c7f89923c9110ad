"""What ``dbplex analyze`` reports and what a backend provides for it.

A backend's ``dbplex_analyze(source, pool, admin)`` hook returns an :class:`Analyzer`: it reads
the database's own statistics and returns :class:`Finding` objects, each with its evidence, a
severity and the action recommended. Where the action is an index, the finding carries a
:class:`ProposedIndex` and the analyzer renders it as a migration file
(:meth:`Analyzer.index_migration`), which ``dbplex analyze --write-migrations DIR`` numbers and
writes so that ``dbplex migrate up`` applies it.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

import msgspec

from dbplex.config import AnalyzeSourceConfig


class Severity(str, enum.Enum):
    """How much a finding matters, from least to most."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class ProposedIndex(msgspec.Struct, frozen=True, kw_only=True):
    """An index the advice proposes, in terms every backend shares."""

    #: the table (PostgreSQL, ``schema.table`` when not in the search path) or collection.
    table: str
    #: the key columns or fields, in index order.
    columns: tuple[str, ...]
    #: the index's name, chosen by the analyzer (stable, so a rerun proposes the same file).
    name: str
    unique: bool = False


class Finding(msgspec.Struct, kw_only=True):
    """One thing ``dbplex analyze`` found on one source."""

    source: str
    #: a stable identifier of the kind of finding, ``<backend>.<what>``: ``pg.unused_index``,
    #: ``mongo.collection_scan``, ``redis.ttl_missing``; what CI filters on.
    code: str
    severity: Severity
    #: what the finding is about: a table, an index, a collection, a key family.
    subject: str
    #: one line saying what was found.
    summary: str
    #: one line saying what to do about it.
    action: str
    #: the figures the finding rests on (counts, sizes, ratios), JSON-able.
    evidence: dict[str, Any] = {}
    #: the index to create, when that is the action (``--write-migrations`` writes it).
    index: ProposedIndex | None = None


class MigrationFile(msgspec.Struct, frozen=True, kw_only=True):
    """A migration's file as an analyzer renders it; the core picks its version and folder."""

    #: ``sql`` or ``py``: the file's extension, one the source's migrator runs.
    suffix: str
    #: the description part of the name (letters, digits, ``_``): ``index_games_venue_id``.
    description: str
    #: the whole file, with its down part.
    text: str


class Analyzer(Protocol):
    """One source's analysis backend; its connections come from the hub's pools (no I/O when made)."""

    def findings(self, settings: AnalyzeSourceConfig) -> list[Finding]:
        """Everything found on this source, read from the database's statistics and catalogs.

        A check the server cannot answer (an extension not installed, a profiler that is off) is
        skipped and said as an ``INFO`` finding naming what to enable, not raised.
        """
        ...

    def index_migration(self, index: ProposedIndex) -> MigrationFile:
        """``index`` as a migration the source's migrator applies, with a down part that drops it."""
        ...
