"""The change feed against real servers: what a watcher started before some writes receives, and
what a watcher resumed from a stored position receives again."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dbplex.changes import Change
from dbplex.errors import ConfigError, UnsupportedError
from dbplex.ops import Delete, Put, Update
from tests.watch.conftest import Watched

#: ends a watch that would otherwise wait for changes that never come (a failing test, not a timing).
GIVE_UP = 30.0


def _collect(watched: Watched, count: int, after: str | None = None) -> tuple[list[Change], threading.Thread, Any]:
    """A watcher started now (before the caller's writes), collecting ``count`` changes in a thread."""
    watch = watched.hub.watch(watched.source, watched.table, after=after, timeout=GIVE_UP, count=count)
    got: list[Change] = []
    thread = threading.Thread(target=lambda: got.extend(watch))
    thread.start()
    return got, thread, watch


def _write(watched: Watched) -> None:
    hub, source, table = watched.hub, watched.source, watched.table
    hub.execute(source, Put(table, "k1", {"name": "first", "n": 1}))
    hub.execute(source, Update(table, "k1", {"n": 2}))
    hub.execute(source, Delete(table, "k1"))


def _written(watched: Watched) -> tuple[str, list[Change]]:
    """The position before :func:`_write`'s three changes, and the changes read after it."""
    start = watched.hub.watch(watched.source, watched.table, timeout=0.1)
    before = start.position
    start.close()
    _write(watched)
    with watched.hub.watch(watched.source, watched.table, after=before, timeout=GIVE_UP, count=3) as first:
        seen = list(first)
    assert [c.op for c in seen] == ["insert", "update", "delete"]
    return before, seen


def test_a_watcher_receives_insert_update_and_delete_in_order(watched: Watched) -> None:
    got, thread, watch = _collect(watched, 3)
    _write(watched)
    thread.join()
    watch.close()
    assert [(c.op, c.key, c.values) for c in got] == [
        ("insert", "k1", {"name": "first", "n": 1}),
        ("update", "k1", {"name": "first", "n": 2}),
        ("delete", "k1", {}),
    ]
    assert {(c.source, c.table) for c in got} == {(watched.source, watched.table)}
    assert len({c.position for c in got}) == 3


def test_resuming_from_a_stored_position_gives_everything_after_it_and_nothing_before(watched: Watched) -> None:
    _, seen = _written(watched)
    stored = seen[0].position  # the caller handled the insert, stored its position, and stopped
    with watched.hub.watch(watched.source, watched.table, after=stored, timeout=GIVE_UP, count=2) as resumed:
        again = list(resumed)
    assert [(c.op, c.key) for c in again] == [("update", "k1"), ("delete", "k1")]
    assert [c.position for c in again] == [c.position for c in seen[1:]]


def test_a_watch_stops_when_closed_from_another_thread(watched: Watched) -> None:
    watch = watched.hub.watch(watched.source, watched.table)  # no timeout, no count: only close() ends it
    done = threading.Event()
    thread = threading.Thread(target=lambda: (list(watch), done.set()))
    thread.start()
    watch.close()
    thread.join(GIVE_UP)
    assert done.is_set()


@pytest.mark.parametrize("backend", ["pg", "redis"])
def test_a_table_whose_changes_are_not_recorded_is_refused_with_the_install_step(
    backend: str, open_hub: Any, unique_table: str
) -> None:
    hub = open_hub(backend)
    with pytest.raises(ConfigError, match=rf"not recorded; run `dbplex watch --install {backend}\.{unique_table}`"):
        hub.watch(backend, unique_table, timeout=0.1)


def test_postgresql_records_raw_sql_writes_too(open_hub: Any, unique_table: str) -> None:
    from dbplex_pg.ops import SQL

    hub = open_hub("pg")
    table = unique_table
    hub.execute("pg", SQL(f'CREATE TABLE "{table}" (id int PRIMARY KEY, name text)'))
    try:
        hub.change_feed("pg").install(table)
        watched = Watched(hub, "pg", table, "")
        got, thread, watch = _collect(watched, 3)
        hub.execute("pg", SQL(f"INSERT INTO \"{table}\" VALUES (7, 'seven')"))
        hub.execute("pg", SQL(f"UPDATE \"{table}\" SET name = 'SEVEN' WHERE id = 7"))
        hub.execute("pg", SQL(f'DELETE FROM "{table}" WHERE id = 7'))
        thread.join()
        watch.close()
        assert [(c.op, c.key, c.values) for c in got] == [
            ("insert", "7", {"id": 7, "name": "seven"}),
            ("update", "7", {"id": 7, "name": "SEVEN"}),
            ("delete", "7", {}),
        ]
    finally:
        hub.execute("pg", SQL(f'DROP TABLE IF EXISTS "{table}"'))
        hub.execute("pg", SQL("DELETE FROM dbplex_changes WHERE table_name = %s", [table]))


def test_postgresql_delivers_a_transaction_that_took_its_id_first_but_committed_last(
    open_hub: Any, unique_table: str
) -> None:
    """Ids are taken at the write, visible at the commit: a position by id alone would skip this one."""
    from dbplex_pg.ops import SQL

    hub = open_hub("pg")
    hub.change_feed("pg").install(unique_table)
    try:
        start = hub.watch("pg", unique_table, timeout=0.1)
        before = start.position
        start.close()
        with hub.transaction("pg") as slow:
            slow.execute(Put(unique_table, "early", {"n": 1}))  # takes the lower id, commits last
            late = f"INSERT INTO \"{unique_table}\" VALUES ('late', '{{}}')"
            hub.execute("pg", SQL(late))  # another session, committed now
            with hub.watch("pg", unique_table, after=before, timeout=1.0) as meanwhile:
                first = [c.key for c in meanwhile]
        with hub.watch("pg", unique_table, after=before, timeout=GIVE_UP, count=2) as after_commit:
            both = [c.key for c in after_commit]
        assert first == []  # held back while an older transaction may still add rows
        assert sorted(both) == ["early", "late"]
    finally:
        hub.execute("pg", SQL(f'DROP TABLE IF EXISTS "{unique_table}"'))
        hub.execute("pg", SQL("DELETE FROM dbplex_changes WHERE table_name = %s", [unique_table]))


def test_mongodb_without_a_replica_set_says_what_it_needs(open_hub: Any, dbplex_servers: Any) -> None:
    hub = open_hub("mongo")
    if dbplex_servers.mongo_kind != "nx-27017":
        pytest.skip(
            f"the MongoDB server is {dbplex_servers.mongo_kind!r}, not the nx-27017 stand-in without change streams"
        )
    with pytest.raises(UnsupportedError, match=r"source 'mongo': .* no change streams; run it as a replica set"):
        hub.watch("mongo", "anything", timeout=0.1)


def test_one_watch_over_two_tables_resumes_each_from_the_stored_position(watched: Watched) -> None:
    hub, source, first = watched.hub, watched.source, watched.table
    second = f"{first}_b"
    hub.change_feed(source).install(second)
    try:
        start = hub.watch(source, [first, second], timeout=0.1)
        before = start.position
        start.close()
        hub.execute(source, Put(first, "a", {"n": 1}))
        hub.execute(source, Put(second, "b", {"n": 2}))
        hub.execute(source, Delete(first, "a"))
        hub.execute(source, Delete(second, "b"))
        with hub.watch(source, [first, second], after=before, timeout=GIVE_UP, count=4) as both:
            seen = list(both)
        # each record's changes in order; across tables the order is only as close as the clock's
        assert [(c.op, c.key) for c in seen if c.table == first] == [("insert", "a"), ("delete", "a")]
        assert [(c.op, c.key) for c in seen if c.table == second] == [("insert", "b"), ("delete", "b")]
        for handled in range(1, 4):  # a caller that stored the position after `handled` changes
            stored = seen[handled - 1].position
            with hub.watch(source, [first, second], after=stored, timeout=GIVE_UP, count=4 - handled) as rest:
                resumed = list(rest)
            assert [(c.table, c.op, c.key) for c in resumed] == [(c.table, c.op, c.key) for c in seen[handled:]]
    finally:
        from tests.watch.conftest import _drop

        _drop(hub, source, second)
