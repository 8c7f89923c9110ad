"""Splitting PostgreSQL scripts into statements (pure: no server)."""

from __future__ import annotations

import pytest

from dbplex_pg.sqltext import split

SCRIPT = """-- leading comment; not a statement end
CREATE TABLE a (x text DEFAULT ';');  /* block ; /* nested ; */ still comment ; */
CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
SELECT E'it\\'s;', "odd;name", 'a''b;', $$x;y$$;
create unique index concurrently if not exists "My Idx" on a (x);
CREATE INDEX CONCURRENTLY s.a_x ON a (x);
CREATE INDEX CONCURRENTLY ON a (x);
VACUUM ANALYZE a;
-- trailing comment only
"""


def test_only_top_level_semicolons_end_statements() -> None:
    statements = split(SCRIPT)
    assert [s.line for s in statements] == [2, 3, 4, 5, 6, 7, 8]
    assert statements[0].text == "-- leading comment; not a statement end\nCREATE TABLE a (x text DEFAULT ';')"
    assert statements[1].text.endswith("$body$ SELECT 1; $body$ LANGUAGE sql")
    assert statements[2].text == "SELECT E'it\\'s;', \"odd;name\", 'a''b;', $$x;y$$"


def test_statements_that_cannot_run_in_a_transaction_are_recognised() -> None:
    statements = split(SCRIPT)
    assert [s.needs_autocommit for s in statements] == [
        None,
        None,
        None,
        "CREATE UNIQUE INDEX CONCURRENTLY",
        "CREATE INDEX CONCURRENTLY",
        "CREATE INDEX CONCURRENTLY",
        "VACUUM",
    ]
    assert [s.concurrent_index for s in statements[3:6]] == ['"My Idx"', "s.a_x", None]


@pytest.mark.parametrize(
    "control", ["BEGIN", "begin transaction", "COMMIT", "ROLLBACK", "SAVEPOINT s", "START TRANSACTION"]
)
def test_transaction_control_is_recognised(control: str) -> None:
    [statement] = split(f"{control};")
    assert statement.controls_transaction is not None


def test_words_that_merely_start_like_keywords_are_not_mistaken() -> None:
    statements = split("SELECT 1 AS begin_x; CREATE TABLE vacuums (id int); SELECT type'x';")
    assert [(s.needs_autocommit, s.controls_transaction) for s in statements] == [(None, None)] * 3
