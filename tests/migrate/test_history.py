"""What the history says: the latest row about a migration decides its state."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from dbplex.migrate.errors import MigrationError
from dbplex.migrate.history import HistoryRow, decode
from tests.migrate.helpers import ledger, row


def test_states_follow_the_latest_row() -> None:
    history = ledger(
        row(1, "1"),
        row(2, "2", status="failed"),
        row(3, "3", status="running"),
        row(4, "4"),
        row(5, "4", action="down", status="rolled_back"),
        row(6, "5"),
        row(7, "5", action="down", status="failed"),
    )
    states = {id: (e.state, e.applied) for id, e in history.entries().items()}
    assert states == {
        "V1": ("applied", True),
        "V2": ("failed", False),
        "V3": ("running", False),
        "V4": ("rolled_back", False),
        "V5": ("failed", True),  # a revert that failed leaves the migration applied
    }
    assert [r.rank for r in history.running] == [3] and history.next_rank == 8


def test_history_rows_survive_each_backends_encoding() -> None:
    original = row(1, "0001")
    original.finished_at = dt.datetime(2024, 1, 1, 0, 0, 1, 123000, tzinfo=dt.timezone.utc)
    as_json = msgspec.json.decode(msgspec.json.encode(original))
    naive_bson = {**msgspec.to_builtins(original, builtin_types=(dt.datetime,)), "started_at": dt.datetime(2024, 1, 1)}
    assert decode(as_json, "s") == original
    decoded = decode(naive_bson, "s")
    assert decoded.started_at.tzinfo is dt.timezone.utc and decoded.id == "V1"
    assert isinstance(decoded, HistoryRow)


def test_a_row_that_is_not_a_history_row_is_named() -> None:
    with pytest.raises(
        MigrationError,
        match=r"source 'docs': dbplex_schema_history holds a row that is not a history row \(Expected `int`, got `str` - at `rank`\)",
    ):
        decode({**msgspec.to_builtins(row(1, "1")), "rank": "x"}, "docs")
