"""Conformance, data quality: for a backend whose plugin implements ``dbplex_check``,
``dbplex_describe`` or ``dbplex_watch``.

``dbplex check`` trusts a :class:`~dbplex.check.backend.Checker` to stream every row once, look
keys up exactly and checksum key ranges as :mod:`dbplex.check.canonical` does; ``dbplex schema
diff`` trusts a :class:`~dbplex.schema.model.Describer` to name the fields a table holds; a
watcher trusts a :class:`~dbplex.changes.ChangeFeed` to deliver every change after a position,
in order, again after a resume. These tests check those promises on rows the backend's test
class writes in its own layout (:meth:`QualityBase.plant`), and changes made with uniform ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

import dbplex
from dbplex import Delete, Put, PutMany, Update
from dbplex.changes import Change, ChangeFeed
from dbplex.check import canonical
from dbplex.check.backend import Checker, Row
from dbplex.errors import ChangesPruned, ConfigError, UnsupportedError
from dbplex.testing.conformance_base import SOURCE, SuiteBase

#: rows the checker and describer sections plant: keys 1..ROWS.
ROWS = 40
FIELDS = ["name", "n"]
#: ends a read that waits for changes that never come (a failing test, not a timing).
GIVE_UP = 30.0


def planted_rows(changed: int | None = None) -> list[dict[str, Any]]:
    """``{"id", "name", "n"}`` for ids 1..ROWS; with ``changed``, that row's name differs."""
    return [{"id": i, "name": f"name{i:03d}" + ("!" if i == changed else ""), "n": i * 7} for i in range(1, ROWS + 1)]


def _texts(rows: list[Row]) -> list[tuple[str, ...]]:
    """Rows as canonical texts: a Redis hash's ``"7"`` and PostgreSQL's ``7`` agree, as in a check."""
    return [(canonical.text(key), *map(canonical.text, values)) for key, values in rows]


def _expected(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(r["id"]), r["name"], str(r["n"])) for r in rows]


class QualityBase(SuiteBase):
    """What only the backend's test class knows: how to write rows in the backend's own layout."""

    def plant(self, hub: dbplex.Hub, table: str, rows: list[dict[str, Any]]) -> str:
        """Write ``rows`` (``{"id": int, "name": str, "n": int}``; ``id`` is text in
        :meth:`CheckerSection.test_text_keys_are_ordered_by_code_point`) into a new table named
        after ``table``, in the layout the checker and describer read (PostgreSQL columns with
        ``id`` the primary key, MongoDB documents with ``_id``, Redis hashes ``<table>:<id>``);
        return its name as they take it (``<table>:*`` for a key family)."""
        raise NotImplementedError(
            f"{type(self).__name__}.plant(hub, table, rows): write the rows in your backend's own layout, keyed by "
            "id, and return the table's name as your checker reads it; required with dbplex_check or dbplex_describe"
        )


class CheckerSection(QualityBase):
    """``dbplex_check``: streaming, exact lookups, counts, and range checksums of ordered checkers."""

    @pytest.fixture
    def checked(self, hub: dbplex.Hub, unique_table: str) -> tuple[Checker, str]:
        self.require(hub, "check")
        return hub.checker(SOURCE), self.plant(hub, unique_table, planted_rows())

    def test_batches_stream_every_row_once_in_bounded_batches(self, checked: tuple[Checker, str]) -> None:
        checker, table = checked
        batches = list(checker.batches(table, None, FIELDS, 7))
        assert all(0 < len(batch) <= 7 for batch in batches), [len(b) for b in batches]
        got = _texts([row for batch in batches for row in batch])
        want = _expected(planted_rows())
        if checker.ordered:
            assert got == want, "an ordered checker streams rows in key order"
        else:
            assert sorted(got) == sorted(want)
        assert checker.reads >= ROWS, "reads counts the rows the server read"

    def test_lookups_return_exactly_the_keys_asked_for_that_exist(self, checked: tuple[Checker, str]) -> None:
        checker, table = checked
        found = checker.rows(table, None, FIELDS, ["3", "17", "999", "x"])
        assert sorted(_texts(found)) == sorted(_expected([r for r in planted_rows() if r["id"] in (3, 17)]))
        assert checker.existing(table, None, ["1", "40", "41", "0", "x"]) == {"1", "40"}
        assert checker.count(table) == ROWS

    def test_ranges_stream_their_rows_and_checksum_as_the_canonical_digests(self, checked: tuple[Checker, str]) -> None:
        checker, table = checked
        if not checker.ordered:
            pytest.skip("the checker is unordered: it has no key ranges (mirrors look its keys up)")
        assert tuple(int(canonical.text(k)) for k in checker.bounds(table, None) or ()) == (1, ROWS)
        edges = [1, 11, 21, 31, ROWS + 1]
        segments = checker.segments(table, None, FIELDS, edges)
        assert [s.count for s in segments] == [10, 10, 10, 10]
        for (lo, hi), segment in zip(pairwise(edges), segments, strict=True):
            rows = [row for batch in checker.batches(table, None, FIELDS, 4, lo, hi) for row in batch]
            assert _texts(rows) == _expected([r for r in planted_rows() if lo <= r["id"] < hi])
            assert segment.checksum == canonical.checksum(canonical.digest(k, v) for k, v in rows)
        (whole,) = checker.segments(table, None, FIELDS, [11, None])  # a last edge of None bounds nothing
        assert whole.count == ROWS - 10

    def test_segments_are_equal_for_equal_rows_and_differ_where_a_row_changed(
        self, hub: dbplex.Hub, checked: tuple[Checker, str], unique_table: str
    ) -> None:
        checker, table = checked
        if not checker.ordered:
            pytest.skip("the checker is unordered: it has no key ranges (mirrors look its keys up)")
        twin = self.plant(hub, unique_table + "_twin", planted_rows())
        changed = self.plant(hub, unique_table + "_changed", planted_rows(changed=25))
        edges = [1, 11, 21, 31, ROWS + 1]
        ours = checker.segments(table, None, FIELDS, edges)
        assert checker.segments(twin, None, FIELDS, edges) == ours
        theirs = checker.segments(changed, None, FIELDS, edges)
        assert [a == b for a, b in zip(ours, theirs, strict=True)] == [True, True, False, True]
        assert theirs[2].count == ours[2].count

    def test_text_keys_are_ordered_by_code_point(self, hub: dbplex.Hub, unique_table: str) -> None:
        """A mirror keyed by text cuts ranges at keys and expects every side to put the same
        keys between two edges: code-point order, whatever the server's collation."""
        self.require(hub, "check")
        checker = hub.checker(SOURCE)
        if not checker.ordered:
            pytest.skip("the checker is unordered: it has no key ranges (mirrors look its keys up)")
        keys = ["Zoë", "apple", "Äpfel", "zebra", "ß", "日本", "a b", "A", "a", "B"]
        table = self.plant(hub, unique_table, [{"id": k, "name": k, "n": len(k)} for k in keys])
        ordered = sorted(keys)
        streamed = [canonical.text(k) for batch in checker.batches(table, None, [], 3) for k, _ in batch]
        assert streamed == ordered
        assert checker.bounds(table, None) == (ordered[0], ordered[-1])
        edges = ["A", "a", "zebra", "ß", None]
        counts = [sum(lo <= k < hi for k in keys) for lo, hi in pairwise(["A", "a", "zebra", "ß", "\U0010ffff"])]
        assert [s.count for s in checker.segments(table, None, [], edges)] == counts
        inner = [canonical.text(k) for batch in checker.batches(table, None, [], 3, "a", "ß") for k, _ in batch]
        assert inner == [k for k in ordered if "a" <= k < "ß"]


class DescriberSection(QualityBase):
    """``dbplex_describe``: a table's fields in the portable types."""

    def test_a_described_table_names_the_fields_and_types_written(self, hub: dbplex.Hub, unique_table: str) -> None:
        self.require(hub, "describe")
        table = self.plant(hub, unique_table, planted_rows())
        shape = hub.describer(SOURCE).describe(table, 100)
        types = {f.name: f.type for f in shape.fields}
        assert shape.table == table
        assert types.get("name") == "string" and types.get("n") == "integer", types

    def test_describing_a_table_that_does_not_exist_is_a_config_error(self, hub: dbplex.Hub, unique_table: str) -> None:
        self.require(hub, "describe")
        with pytest.raises(ConfigError):
            hub.describer(SOURCE).describe(unique_table + "_none", 100)


class ChangeFeedSection(SuiteBase):
    """``dbplex_watch``: changes after a position, in order, again from any position delivered."""

    @pytest.fixture
    def feed(self, hub: dbplex.Hub, unique_table: str) -> Iterator[ChangeFeed]:
        self.require(hub, "watch")
        lacking = self.server_lacks(hub, "watch")
        if lacking is not None:
            pytest.skip(f"watch: {lacking}")
        feed = hub.change_feed(SOURCE)
        feed.install(unique_table)
        yield feed
        feed.close()

    @staticmethod
    def _read(feed: ChangeFeed, table: str, after: str, count: int) -> list[Change]:
        """The first ``count`` changes after ``after``, read as a watcher does (each read from the
        last position seen); fewer only when a read waited GIVE_UP seconds for nothing."""
        got: list[Change] = []
        while len(got) < count:
            found = feed.read([table], got[-1].position if got else after, GIVE_UP)
            if not found:
                break
            got.extend(found)
        return got

    def _written(self, hub: dbplex.Hub, feed: ChangeFeed, table: str) -> tuple[str, list[Change]]:
        """The position before an insert, update and delete of ``k1``, and the changes read after it."""
        start = feed.start([table], None)
        hub.execute(SOURCE, Put(table, "k1", {"name": "first", "n": 1}))
        hub.execute(SOURCE, Update(table, "k1", {"n": 2}))
        hub.execute(SOURCE, Delete(table, "k1"))
        return start, self._read(feed, table, start, 3)

    def test_changes_after_a_position_come_in_order_with_their_positions(
        self, hub: dbplex.Hub, feed: ChangeFeed, unique_table: str
    ) -> None:
        start, got = self._written(hub, feed, unique_table)
        assert [(c.op, c.key, c.values) for c in got] == [
            ("insert", "k1", {"name": "first", "n": 1}),
            ("update", "k1", {"name": "first", "n": 2}),
            ("delete", "k1", {}),
        ]
        assert {(c.source, c.table) for c in got} == {(SOURCE, unique_table)}
        assert len({c.position for c in got}) == 3 and start not in {c.position for c in got}
        assert feed.read([unique_table], got[-1].position, 0.2) == [], "nothing after the last change"

    def test_resuming_after_a_delivered_position_delivers_the_rest_again(
        self, hub: dbplex.Hub, feed: ChangeFeed, unique_table: str
    ) -> None:
        _, first = self._written(hub, feed, unique_table)
        assert feed.start([unique_table], first[0].position) == first[0].position
        resumed = hub.change_feed(SOURCE)  # a new feed, as after a restart
        try:
            again = self._read(resumed, unique_table, first[0].position, 2)
        finally:
            resumed.close()
        assert [(c.op, c.key, c.position) for c in again] == [(c.op, c.key, c.position) for c in first[1:]]

    def test_each_record_of_a_put_many_is_a_change(self, hub: dbplex.Hub, feed: ChangeFeed, unique_table: str) -> None:
        hub.execute(SOURCE, Put(unique_table, "k1", {"n": 0}))
        start = feed.start([unique_table], None)
        try:
            hub.execute(SOURCE, PutMany(unique_table, {"k1": {"n": 1}, "k2": {"n": 2}}))
        except UnsupportedError as exc:
            pytest.skip(str(exc))
        got = self._read(feed, unique_table, start, 2)
        assert sorted((c.op, c.key, c.values) for c in got) == [("insert", "k2", {"n": 2}), ("update", "k1", {"n": 1})]

    def test_a_table_whose_changes_are_not_recorded_is_refused(
        self, hub: dbplex.Hub, feed: ChangeFeed, unique_table: str
    ) -> None:
        with pytest.raises(ConfigError):
            feed.start([unique_table + "_unrecorded"], None)

    def test_a_prune_removes_what_it_passed_and_refuses_resuming_from_before_it(
        self, hub: dbplex.Hub, feed: ChangeFeed, unique_table: str
    ) -> None:
        start, got = self._written(hub, feed, unique_table)
        try:
            assert feed.prune([unique_table], got[0].position) == 1
        except UnsupportedError as exc:  # a log that is the server's own (MongoDB's oplog)
            pytest.skip(f"prune: {exc}")
        with pytest.raises(ChangesPruned):
            feed.start([unique_table], start)
        rest = self._read(feed, unique_table, feed.start([unique_table], got[0].position), 2)
        assert [(c.op, c.position) for c in rest] == [(c.op, c.position) for c in got[1:]]
