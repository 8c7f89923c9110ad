"""The checksum PostgreSQL computes in SQL equals the core's over the rows it returns, for every
column type the canonical encoding names; MongoDB and Redis hash with the core's function."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

import dbplex
from dbplex.check import canonical

COLUMNS = {
    "i": "bigint",
    "s": "smallint",
    "t": "text",
    "b": "boolean",
    "ts": "timestamptz",
    "naive": "timestamp",
    "d": "date",
    "n": "numeric",
    "f": "double precision",
    "raw": "bytea",
    "u": "uuid",
}
ROWS = [
    (
        1,
        2,
        "plain",
        True,
        dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc),
        dt.datetime(2026, 1, 2, 3, 4, 5, 999),
        dt.date(2026, 1, 2),
        Decimal("1.50"),
        2.0,
        b"\x00\xff",
        uuid.UUID(int=7),
    ),
    (
        2,
        -3,
        "ünïcode \x1f sep",
        False,
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        dt.datetime(2000, 1, 1),
        dt.date(1970, 1, 1),
        Decimal("-0.001"),
        0.1,
        b"",
        uuid.UUID(int=8),
    ),
    (3, None, None, None, None, None, None, None, None, None, None),
]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, canonical.NULL),
        (True, "true"),
        (5, "5"),
        (2.0, "2"),
        (0.1, "0.1"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, 678901), "2026-01-02T03:04:05.678Z"),
        (dt.datetime(2026, 1, 2, 8, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5))), "2026-01-02T03:04:05.000Z"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (b"\x00\xff", "00ff"),
    ],
)
def test_canonical_text(value: Any, text: str) -> None:
    assert canonical.text(value) == text


def test_postgresql_checksum_equals_the_core_digest_of_its_rows(dbplex_servers: Any, unique_table: str) -> None:
    with dbplex.open({"sources": {"pg": {"url": dbplex_servers.url("pg")}}}) as hub:
        with hub.connection("pg") as conn:
            conn.execute(
                f"CREATE TABLE {unique_table} ({', '.join(f'{c} {t}' for c, t in COLUMNS.items())}, PRIMARY KEY (i))"
            )
            conn.cursor().executemany(f"INSERT INTO {unique_table} VALUES ({', '.join(['%s'] * len(COLUMNS))})", ROWS)
            conn.commit()
        try:
            checker = hub.checker("pg")
            fields = [c for c in COLUMNS if c != "i"]
            segments = checker.segments(unique_table, None, fields, [0, 2, 3, 10, 20])
            rows = [row for batch in checker.batches(unique_table, None, fields, 100) for row in batch]
            assert [s.count for s in segments] == [1, 1, 1, 0]  # keys 1 | 2 | 3 | none
            assert [s.checksum for s in segments[:3]] == [canonical.digest(k, v) for k, v in rows]
            assert segments[3].checksum == 0
            assert checker.reads == 2 * len(ROWS)  # the aggregate read each row once, the stream once
        finally:
            with hub.connection("pg") as conn:
                conn.execute(f"DROP TABLE {unique_table}")
                conn.commit()
