"""``dbplex schema diff A B``: describe both places through their sources' describers, compare,
and propose the migration that aligns B (numbered and written by :mod:`dbplex.analyze.writing`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dbplex.errors import ConfigError
from dbplex.schema import diff

if TYPE_CHECKING:
    from dbplex.analyze.model import MigrationFile
    from dbplex.hub import Hub

_FIELD = re.compile(r"[^=\s]+")


def place(hub: Hub, text: str) -> tuple[str, str]:
    """``SOURCE.TABLE`` split at its first dot, the source checked to be configured."""
    source, dot, table = text.partition(".")
    if not dot or not source or not table:
        raise ConfigError(f"{text!r}: expected SOURCE.TABLE (e.g. pg.games, docs.calendar_events, cache.cache:teams:*)")
    if source not in hub.config.sources:
        raise ConfigError(
            f"{text!r}: no source {source!r} in the configuration ({', '.join(sorted(hub.config.sources))})"
        )
    return source, table


def renames(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--rename A_FIELD=B_FIELD`` options as a mapping; a ConfigError for a malformed one."""
    found: dict[str, str] = {}
    for pair in pairs:
        a, eq, b = pair.partition("=")
        if not eq or not _FIELD.fullmatch(a) or not _FIELD.fullmatch(b):
            raise ConfigError(f"--rename {pair!r}: expected A_FIELD=B_FIELD (a field of A and its name in B)")
        if a in found:
            raise ConfigError(f"--rename: field {a!r} renamed twice")
        found[a] = b
    return found


def schema_diff(hub: Hub, a: str, b: str, sample: int, renamed: dict[str, str]) -> diff.SchemaDiff:
    """The differences of ``b`` from ``a`` (both ``SOURCE.TABLE``)."""
    (a_source, a_table), (b_source, b_table) = place(hub, a), place(hub, b)
    a_shape = hub.describer(a_source).describe(a_table, sample)
    b_shape = hub.describer(b_source).describe(b_table, sample)
    return diff.compare(a_shape, b_shape, renamed)


def proposal(hub: Hub, found: diff.SchemaDiff) -> MigrationFile | None:
    """The migration that gives B the fields it lacks or types differently; None when there is
    nothing to add or B's backend keeps no schema (a Redis key family)."""
    fields = diff.wanted(found)
    if not fields:
        return None
    return hub.describer(found.b.source).migration(found.b.table, fields)
