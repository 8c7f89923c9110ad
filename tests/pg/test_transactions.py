"""Transactions: what commits together, what rolls back, and the autocommit the pool hands out."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import dbplex
from dbplex import Delete, Get, Put, Scan
from dbplex.errors import QueryError
from dbplex_pg import SQL


def test_record_and_sql_ops_commit_together(hub: dbplex.Hub, unique_table: str, raw: psycopg.Connection[Any]) -> None:
    with hub.transaction("pg") as tx:
        tx.execute(Put(unique_table, "k1", {"n": 1}))
        tx.execute(SQL(f"UPDATE {unique_table} SET data = jsonb_set(data, '{{n}}', '2') WHERE key = 'k1'"))
        assert raw.execute(f"SELECT count(*) FROM pg_tables WHERE tablename = '{unique_table}'").fetchone() == (0,)
    assert hub.execute("pg", Get(unique_table, "k1")).one()["values"] == {"n": 2}


def test_an_exception_rolls_everything_back(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("pg", Put(unique_table, "keep", {"n": 0}))
    with pytest.raises(RuntimeError, match="stop"), hub.transaction("pg") as tx:
        tx.execute(Put(unique_table, "new", {"n": 1}))
        tx.execute(Delete(unique_table, "keep"))
        raise RuntimeError("stop")
    assert [r["key"] for r in hub.execute("pg", Scan(unique_table, "", 10))] == ["keep"]


def test_a_table_first_created_in_a_rolled_back_transaction_is_created_again(
    hub: dbplex.Hub, unique_table: str
) -> None:
    with pytest.raises(RuntimeError), hub.transaction("pg") as tx:
        tx.execute(Put(unique_table, "k", {"n": 1}))
        raise RuntimeError("roll back the CREATE TABLE too")
    assert hub.execute("pg", Get(unique_table, "k")).rows == []
    with hub.transaction("pg") as tx:
        tx.execute(Put(unique_table, "k", {"n": 2}))
    assert hub.execute("pg", Put(unique_table, "k2", {"n": 3})).affected == 1
    assert [r["key"] for r in hub.execute("pg", Scan(unique_table, "", 10))] == ["k", "k2"]


def test_reading_a_missing_table_does_not_spoil_the_transaction(hub: dbplex.Hub, unique_table: str) -> None:
    with hub.transaction("pg") as tx:
        assert tx.execute(Get(unique_table + "_other", "k")).rows == []
        assert tx.execute(Scan(unique_table + "_other", "", 5)).rows == []
        tx.execute(Put(unique_table, "k", {"n": 1}))
    assert hub.execute("pg", Get(unique_table, "k")).one()["values"] == {"n": 1}


def test_a_failing_op_inside_surfaces_and_nothing_commits(hub: dbplex.Hub, unique_table: str) -> None:
    with pytest.raises(QueryError, match="division by zero"), hub.transaction("pg") as tx:
        tx.execute(Put(unique_table, "k", {"n": 1}))
        tx.execute(SQL("SELECT 1 / 0"))
    assert hub.execute("pg", Get(unique_table, "k")).rows == []


def test_a_failing_commit_is_a_query_error(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute(
        "pg",
        SQL(
            f"CREATE TABLE {unique_table} (id int PRIMARY KEY, parent int REFERENCES {unique_table} DEFERRABLE INITIALLY DEFERRED)"
        ),
    )
    with (
        pytest.raises(QueryError, match=r"violates foreign key constraint.*SQLSTATE 23503"),
        hub.transaction("pg") as tx,
    ):
        tx.execute(SQL(f"INSERT INTO {unique_table} VALUES (1, 99)"))  # checked at COMMIT
    assert hub.execute("pg", SQL(f"SELECT count(*) AS n FROM {unique_table}")).scalar() == 0


def test_pooled_connections_are_in_autocommit_mode(
    make_hub: Any, unique_table: str, raw: psycopg.Connection[Any]
) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1})
    with hub.connection("pg") as conn:
        assert conn.autocommit
        conn.execute(f"CREATE TABLE {unique_table} (n int)")
        conn.execute(f"INSERT INTO {unique_table} VALUES (1)")
        assert raw.execute(f"SELECT count(*) FROM {unique_table}").fetchone() == (1,)


def test_a_connection_switched_out_of_autocommit_commits_and_comes_back_in_it(
    make_hub: Any, unique_table: str, raw: psycopg.Connection[Any]
) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1})
    with hub.connection("pg") as conn:
        conn.autocommit = False
        conn.execute(f"CREATE TABLE {unique_table} (n int)")
        conn.execute(f"INSERT INTO {unique_table} VALUES (1)")
    assert raw.execute(f"SELECT count(*) FROM {unique_table}").fetchone() == (1,)
    with hub.connection("pg") as conn:
        assert conn.autocommit
    with pytest.raises(RuntimeError), hub.connection("pg") as conn:
        conn.autocommit = False
        conn.execute(f"INSERT INTO {unique_table} VALUES (2)")
        raise RuntimeError("roll back")
    assert raw.execute(f"SELECT count(*) FROM {unique_table}").fetchone() == (1,)
    hub.execute("pg", Put(unique_table + "_other", "k", {"n": 1}))  # record ops still commit on their own
    assert raw.execute(f"SELECT count(*) FROM {unique_table}_other").fetchone() == (1,)
