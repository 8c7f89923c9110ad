"""What a backend provides for ``dbplex check``: the :class:`Checker` its ``dbplex_check`` hook returns.

Core decides what to read and compares; the checker reads, in batches, through the hub's pools.
A *table* is what a rule names after the source: a PostgreSQL table, a MongoDB collection, or a
Redis key pattern ending in ``*`` (a key family, whose keys' part matched by ``*`` is each
record's key and whose values are hashes or JSON objects). A *key* of ``None`` means the
table's own key: PostgreSQL's single-column primary key, MongoDB's ``_id``, the Redis key's
suffix. Keys and values cross this boundary as the backend's Python values; core turns them
into canonical text (:mod:`dbplex.check.canonical`) where two backends must agree.

Every checker counts the rows (documents, keys) it makes its server read in :attr:`Checker.reads`
— a row aggregated by a server-side checksum counts as much as a row sent over — so a mirror
check can say how many times it read each side.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import msgspec

from dbplex.check.rules import Rule

#: one row as a checker yields it: the record's key, and the values of the fields asked for, in
#: the order asked (None for a field the record lacks).
Row = tuple[Any, tuple[Any, ...]]


class Segment(msgspec.Struct, frozen=True):
    """The rows of a key range as one server computed them: how many, and their checksum."""

    count: int
    checksum: int


class Outcome(msgspec.Struct, kw_only=True):
    """What a rule found when a checker evaluated it on its server."""

    #: rows that break the rule (for ``duplicate``: rows sharing a value with another row).
    failed: int
    #: the first offending keys, in key order, at most the sample size asked for.
    keys: list[Any] = []
    #: a figure the rule is about: the newest timestamp (``freshness``), the row count (``row_count``).
    value: Any = None


class Checker(Protocol):
    """One source's check backend; its connections come from the hub's pools (no I/O when made)."""

    #: rows read so far (a counter the report shows; see the module docstring).
    reads: int
    #: True when :meth:`batches` returns rows in key order and :meth:`segments` and :meth:`bounds`
    #: work: the source can take part in a mirror's bisection. Redis key families are unordered.
    ordered: bool

    def batches(
        self, table: str, key: str | None, fields: Sequence[str], batch: int, lo: Any = None, hi: Any = None
    ) -> Iterator[list[Row]]:
        """Every row of ``table`` in batches of at most ``batch`` rows, in key order when
        :attr:`ordered`; with ``lo``/``hi`` (ordered checkers only), rows with ``lo <= key < hi``
        (text by code point, as :meth:`bounds` orders it).
        Never holds more than a batch in memory."""
        ...

    def rows(self, table: str, key: str | None, fields: Sequence[str], keys: Sequence[str]) -> list[Row]:
        """The rows whose key's canonical text is one of ``keys`` (absent ones are left out)."""
        ...

    def existing(self, table: str, field: str | None, values: Sequence[str]) -> set[str]:
        """Which of ``values`` (canonical texts) some row of ``table`` holds in ``field``
        (``None``: the table's key), as canonical texts."""
        ...

    def count(self, table: str) -> int:
        """The rows of ``table``."""
        ...

    def bounds(self, table: str, key: str | None) -> tuple[Any, Any] | None:
        """The smallest and largest key of ``table`` (None when empty); ordered checkers only.
        Text keys are ordered by code point (PostgreSQL ``COLLATE "C"``); core bisects only when
        both ends are integers, or both text, on both sides."""
        ...

    def segments(self, table: str, key: str | None, fields: Sequence[str], edges: Sequence[Any]) -> list[Segment]:
        """Count and checksum of each range ``edges[i] <= key < edges[i + 1]`` (so one fewer than
        ``edges``; a last edge of None bounds nothing), in one request where the server allows:
        computed as close to the data as it can, each equal to
        :func:`dbplex.check.canonical.checksum` of the range's row digests. Edges are integers
        or text, ordered as :meth:`bounds` orders keys."""
        ...

    def evaluate(self, table: str, key: str | None, rule: Rule, sample: int) -> Outcome | None:
        """``rule`` evaluated on the server, or None when it cannot be: core then streams
        :meth:`batches` and evaluates it itself."""
        ...
