"""The PostgreSQL partitioner against a real server: inspect, create, retire, finalize, repair, indexes, queries."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg import sql

import dbplex
from dbplex.errors import DbplexError, QueryError
from dbplex.migrate.locking import this_process
from dbplex.partition import Action, Condition, Order, Partition, PartitionQuery, PartitionSpec, layout
from dbplex.partition.layout import time_partition
from dbplex.testing.plugin import Servers
from dbplex_pg.partition import Fence, IndexFix, PgPartitioner
from dbplex_pg.partition_convert import convert_to_partitioned, convert_to_plain

NOW = datetime(2026, 11, 25, 13, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pg_url(dbplex_servers: Servers) -> str:
    return dbplex_servers.url("pg")


@pytest.fixture
def raw(pg_url: str, unique_table: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain autocommit connection; every table whose name starts with the test's is dropped afterwards."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn
        found = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname LIKE %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
            [f"{unique_table}%"],
        ).fetchall()
        for schema, table in found:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(schema, table)))
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(f"{unique_table}_archive")))


@pytest.fixture
def partitioner(pg_url: str) -> Iterator[Callable[..., PgPartitioner]]:
    """``partitioner(now=...)``: a PgPartitioner on the test server whose clock says ``now``."""
    hubs: list[dbplex.Hub] = []
    made: list[PgPartitioner] = []

    def make(now: datetime = NOW) -> PgPartitioner:
        hub = dbplex.open({"sources": {"pg": {"url": pg_url}}})
        hubs.append(hub)
        made.append(PgPartitioner(hub.sources["pg"], *hub.capability_pools("pg"), clock=lambda: now))
        return made[-1]

    yield make
    for p in made:
        p.close()
    for hub in hubs:
        hub.close()


def spec_for(table: str, **fields: Any) -> PartitionSpec:
    base: dict[str, Any] = {"source": "pg", "target": table, "strategy": "range", "key": "at", "interval": "1 day"}
    return PartitionSpec(**{**base, **fields})


def make_table(raw: psycopg.Connection[Any], table: str, by: str = "RANGE (at)") -> None:
    raw.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL, kind text, "
            "total int GENERATED ALWAYS AS (length(kind)) STORED, PRIMARY KEY (id, at)) PARTITION BY {}"
        ).format(sql.Identifier(table), sql.SQL(by))
    )


def create_all(p: PgPartitioner, spec: PartitionSpec, partitions: list[Partition]) -> None:
    for partition in partitions:
        p.apply(spec, p.render(spec, Action(kind="create", partition=partition, reason="test")))


def with_layout(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], table: str, **fields: Any
) -> tuple[PartitionSpec, PgPartitioner, list[Partition]]:
    """A partitioned ``table`` with every partition its spec wants at ``NOW`` made."""
    make_table(raw, table)
    spec = spec_for(table, **fields)
    p = partitioner()
    wanted = layout(spec, NOW).wanted
    create_all(p, spec, wanted)
    return spec, p, wanted


def children(raw: psycopg.Connection[Any], table: str) -> list[str]:
    rows = raw.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(quote_ident(%s)) ORDER BY 1",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def day(offset: int) -> datetime:
    return datetime(2026, 11, 25, tzinfo=timezone.utc) + timedelta(days=offset)


def test_inspect_explains_a_missing_or_unpartitioned_table(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    p = partitioner()
    spec = spec_for(unique_table)
    missing = p.inspect(spec)
    assert not missing.ready and missing.problem and "does not exist" in missing.problem
    raw.execute(sql.SQL("CREATE TABLE {} (at timestamptz)").format(sql.Identifier(unique_table)))
    plain = p.inspect(spec)
    assert not plain.ready and plain.problem and "not partitioned: convert it with a migration" in plain.problem
    raw.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(unique_table)))
    make_table(raw, unique_table, by="HASH (id)")
    other = p.inspect(spec)
    assert not other.ready and other.problem and "partitioned BY HASH (id)" in other.problem


def test_creates_the_layout_reads_it_back_and_a_second_run_changes_nothing(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    spec, p, wanted = with_layout(raw, partitioner, unique_table, premake=2)
    create_all(p, spec, wanted)  # idempotent
    inventory = p.inspect(spec)
    assert inventory.ready and not inventory.actions
    assert sorted((e.partition for e in inventory.partitions), key=str) == sorted(wanted, key=str)
    assert {e.state for e in inventory.partitions} == {"attached"}
    assert children(raw, unique_table) == [w.name for w in wanted]


def test_inspect_reports_the_catalogs_row_estimate_of_each_partition(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    spec, p, wanted = with_layout(raw, partitioner, unique_table, premake=2)
    p.insert(spec, [{"at": NOW + timedelta(minutes=m), "kind": "k"} for m in range(0, 300, 5)])
    raw.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(wanted[0].name)))
    found = {e.partition.name: e for e in p.inspect(spec).partitions}
    assert found[wanted[0].name].rows == 60 and found[wanted[0].name].rows_estimated
    never_analysed = found[wanted[2].name]
    assert never_analysed.rows is None and not never_analysed.rows_estimated


def _create_in_process(url: str, spec: PartitionSpec, start: Any, failures: Any) -> None:
    """One 'host' running maintenance: waits for the others, then creates every partition."""
    hub = dbplex.open({"sources": {"pg": {"url": url}}})
    p = PgPartitioner(hub.sources["pg"], *hub.capability_pools("pg"), clock=lambda: NOW)
    try:
        start.wait(30)
        p.inspect(spec)
        create_all(p, spec, layout(spec, NOW).wanted)
    except Exception as exc:  # reported to the test
        failures.put(f"{type(exc).__name__}: {exc}")
    finally:
        p.close()
        hub.close()


def test_several_processes_creating_at_once_make_each_partition_once(
    raw: psycopg.Connection[Any], pg_url: str, unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, interval="1 hour", premake=12)
    ctx = multiprocessing.get_context("spawn")
    start, failures = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_create_in_process, args=(pg_url, spec, start, failures)) for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert errors == [] and all(proc.exitcode == 0 for proc in procs)
    names = children(raw, unique_table)
    assert names == sorted(w.name for w in layout(spec, NOW).wanted) and len(names) == len(set(names)) == 13


def test_retention_removes_exactly_the_expired_partitions(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, retention="3 days", premake=1)
    create_all(partitioner(), spec, [time_partition(spec, day(n)) for n in range(-8, 2)])
    t = sql.Identifier(unique_table)
    raw.execute(
        sql.SQL("INSERT INTO {} (at, kind) SELECT g, 'x' FROM generate_series(%s::timestamptz, %s, '1 hour') g").format(
            t
        ),
        [day(-8), day(1)],
    )
    p = partitioner()
    plan = layout(spec, NOW)
    assert plan.cutoff is not None
    existing = [e.partition for e in p.inspect(spec).partitions]
    expired = [e for e in existing if isinstance(e.upper, datetime) and e.upper <= plan.cutoff]
    assert [e.label for e in expired] == ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
    for partition in expired:
        p.apply(spec, p.render(spec, Action(kind="retire", partition=partition, reason="test")))
    left = children(raw, unique_table)
    assert left == sorted(e.name for e in existing if e not in expired)
    assert raw.execute(sql.SQL("SELECT min(at) FROM {}").format(t)).fetchone() == (day(-3),)
    gone = raw.execute("SELECT count(*) FROM pg_class WHERE relname = ANY(%s)", [[e.name for e in expired]]).fetchone()
    assert gone == (0,)
    # The partition holding the cutoff has rows inside the window: never retired.
    holding = next(e for e in existing if e.label == "2026-11-22")
    with pytest.raises(DbplexError, match="refusing to retire"):
        p.apply(spec, p.render(spec, Action(kind="retire", partition=holding, reason="wrong")))
    assert holding.name in children(raw, unique_table)


def test_a_partition_whose_real_bounds_reach_into_the_window_is_not_retired(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, retention="3 days")
    named_as_expired = Partition(target=unique_table, kind="range", label="2026-11-10", lower=day(-15), upper=day(-14))
    raw.execute(
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM (%s) TO (%s)")
        .format(sql.Identifier(named_as_expired.name), sql.Identifier(unique_table))
        .as_string(raw)
        .replace("%s", "{}")
        .format(f"'{day(-15).isoformat()}'", f"'{day(0).isoformat()}'")
    )
    p = partitioner()
    with pytest.raises(DbplexError, match="refusing to retire"):
        p.apply(spec, p.render(spec, Action(kind="retire", partition=named_as_expired, reason="test")))
    assert children(raw, unique_table) == [named_as_expired.name]


@pytest.mark.parametrize("mode", ["detach", "archive"])
def test_retention_can_keep_or_archive_what_it_detaches(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str, mode: str
) -> None:
    make_table(raw, unique_table)
    archive = f"{unique_table}_archive" if mode == "archive" else None
    spec = spec_for(unique_table, retention="3 days", retention_mode=mode, archive=archive)
    expired = Partition(target=unique_table, kind="range", label="2026-11-10", lower=day(-15), upper=day(-14))
    create_all(partitioner(), spec, [expired])
    p = partitioner()
    action = p.render(spec, Action(kind="retire", partition=expired, reason="test"))
    assert action.commands[0].endswith("CONCURRENTLY;")
    p.apply(spec, action)
    assert children(raw, unique_table) == []
    where = raw.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE relname = %s",
        [expired.name],
    ).fetchone()
    assert where == (archive or "public",)


def test_with_a_default_partition_retirement_detaches_without_concurrently(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, retention="3 days", default=True)
    expired = Partition(target=unique_table, kind="range", label="2026-11-10", lower=day(-15), upper=day(-14))
    p = partitioner()
    create_all(p, spec, [Partition(target=unique_table, kind="default", label="default"), expired])
    p.inspect(spec)
    action = p.render(spec, Action(kind="retire", partition=expired, reason="test"))
    assert action.commands == [
        "BEGIN;",
        f'ALTER TABLE "{unique_table}" DETACH PARTITION "{expired.name}";',
        f'DROP TABLE IF EXISTS "{expired.name}";',
        "COMMIT;",
    ]
    p.apply(spec, action)
    assert children(raw, unique_table) == [f"{unique_table}_default"]


def test_an_interrupted_concurrent_detach_is_finished_by_the_next_run(
    raw: psycopg.Connection[Any], pg_url: str, partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, retention="3 days")
    expired = Partition(target=unique_table, kind="range", label="2026-11-10", lower=day(-15), upper=day(-14))
    create_all(partitioner(), spec, [expired])
    with psycopg.connect(pg_url) as reader, psycopg.connect(pg_url, autocommit=True) as detacher:
        reader.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(unique_table))
        )  # a transaction stays open
        pid = detacher.info.backend_pid
        outcome: list[BaseException] = []

        def detach() -> None:
            try:
                detacher.execute(
                    sql.SQL("ALTER TABLE {} DETACH PARTITION {} CONCURRENTLY").format(
                        sql.Identifier(unique_table), sql.Identifier(expired.name)
                    )
                )
            except psycopg.Error as exc:
                outcome.append(exc)

        worker = threading.Thread(target=detach)
        worker.start()
        deadline = time.monotonic() + 30
        while not raw.execute(
            "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(quote_ident(%s))", [expired.name]
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the detach never reached its second phase"
            time.sleep(0.05)
        time.sleep(0.2)
        raw.execute("SELECT pg_cancel_backend(%s)", [pid])
        worker.join(30)
        reader.rollback()
    assert outcome and isinstance(outcome[0], psycopg.errors.QueryCanceled)
    p = partitioner()
    inventory = p.inspect(spec)
    assert [(e.partition.name, e.state) for e in inventory.partitions] == [(expired.name, "detaching")]
    [finalize] = inventory.actions
    assert finalize.kind == "finalize"
    p.render(spec, finalize)
    assert finalize.commands[0] == f'ALTER TABLE "{unique_table}" DETACH PARTITION "{expired.name}" FINALIZE;'
    p.apply(spec, finalize)
    assert children(raw, unique_table) == []
    assert raw.execute("SELECT to_regclass(quote_ident(%s))", [expired.name]).fetchone() == (
        None,
    )  # dropped: past retention
    p.apply(spec, finalize)  # a second run finds nothing left to do


def test_rows_in_the_default_partition_are_found_and_moved_out(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, default=True, premake=2)
    p = partitioner()
    default = Partition(target=unique_table, kind="default", label="default")
    create_all(p, spec, [default])
    t = sql.Identifier(unique_table)
    raw.execute(
        sql.SQL("INSERT INTO {} (at, kind) VALUES (%s, 'today'), (%s, 'tomorrow'), (%s, 'old')").format(t),
        [NOW, day(1), day(-40)],
    )
    before = raw.execute(sql.SQL("SELECT id, at, kind, total FROM {} ORDER BY id").format(t)).fetchall()
    inventory = p.inspect(spec)
    assert inventory.misplaced == 2
    [repair] = [a for a in inventory.actions if a.kind == "repair"]
    assert [part.label for part in repair.payload] == ["2026-11-25", "2026-11-26"]
    p.render(spec, repair)
    assert repair.commands[1] == f'LOCK TABLE "{unique_table}_default" IN ACCESS EXCLUSIVE MODE;'
    p.apply(spec, repair)
    after = raw.execute(sql.SQL("SELECT id, at, kind, total FROM {} ORDER BY id").format(t)).fetchall()
    assert after == before
    placed = raw.execute(sql.SQL("SELECT tableoid::regclass::text, kind FROM {} ORDER BY id").format(t)).fetchall()
    assert placed == [
        (f"{unique_table}_p2026_11_25", "today"),
        (f"{unique_table}_p2026_11_26", "tomorrow"),
        (f"{unique_table}_default", "old"),
    ]
    assert p.inspect(spec).misplaced == 0
    # Creating a partition whose rows sit in the default one moves them too.
    raw.execute(sql.SQL("INSERT INTO {} (at, kind) VALUES (%s, 'later')").format(t), [day(2)])
    create_all(p, spec, layout(spec, NOW).wanted)
    assert raw.execute(
        sql.SQL("SELECT tableoid::regclass::text FROM {} WHERE kind = 'later'").format(t)
    ).fetchone() == (f"{unique_table}_p2026_11_27",)


def test_far_future_keys_are_refused_with_or_without_a_default_partition(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    spec, p, _ = with_layout(raw, partitioner, unique_table, premake=1)
    assert p.insert(spec, [{"at": NOW, "kind": "a"}, {"at": day(1), "kind": "b"}]) == 2
    with pytest.raises(
        QueryError,
        match=r"no partition of t_\w+ holds at = 2036-11-24 00:00:00\+00: create it with `dbplex partition apply`",
    ):
        p.insert(spec, [{"at": NOW, "kind": "a"}, {"at": day(3652), "kind": "far"}])
    assert raw.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(unique_table))).fetchone() == (2,)
    with_default = spec_for(unique_table, premake=1, default=True)
    create_all(p, with_default, [Partition(target=unique_table, kind="default", label="default")])
    assert p.insert(with_default, [{"at": day(-30), "kind": "old"}]) == 1
    with pytest.raises(QueryError, match="far-future"):
        p.insert(with_default, [{"at": day(3652), "kind": "far"}])
    inventory = p.inspect(with_default)
    assert inventory.details["default fence"] == "2026-11-27T00:00:00+00:00" and not inventory.actions
    later = partitioner(now=NOW + timedelta(days=1))
    [move] = [a for a in later.inspect(with_default).actions if isinstance(a.payload, Fence)]
    later.apply(with_default, later.render(with_default, move))
    assert later.inspect(with_default).details["default fence"] == "2026-11-28T00:00:00+00:00"


def test_an_index_on_only_the_parent_is_built_concurrently_and_attached(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    spec, p, _ = with_layout(raw, partitioner, unique_table, premake=1)
    index = f"{unique_table}_kind_idx"
    raw.execute(
        sql.SQL("CREATE INDEX {} ON ONLY {} (kind)").format(sql.Identifier(index), sql.Identifier(unique_table))
    )
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(quote_ident(%s))"
    assert raw.execute(valid, [index]).fetchone() == (False,)
    actions = [a for a in p.inspect(spec).actions if isinstance(a.payload, IndexFix)]
    assert len(actions) == 2
    for action in actions:
        p.render(spec, action)
        assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS" in action.commands[0]
        assert action.commands[-2] == f'ALTER INDEX "{index}" ATTACH PARTITION "{action.payload.name}";'
        p.apply(spec, action)
    assert raw.execute(valid, [index]).fetchone() == (True,)
    assert not p.inspect(spec).actions


def test_fetch_reads_one_partition_and_explain_shows_pruning(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    spec, p, wanted = with_layout(raw, partitioner, unique_table, premake=2)
    p.insert(spec, [{"at": NOW + timedelta(hours=h), "kind": f"k{h}"} for h in range(0, 48, 6)])
    query = PartitionQuery(
        where=[Condition("at", ">=", day(1)), Condition("kind", "in", ["k12", "k18", "k24", "k30"])],
        order_by=[Order("at", "desc")],
        limit=2,
        fields=["kind", "total"],
    )
    rows = p.fetch(spec, wanted[1], query)
    assert rows == [{"kind": "k30", "total": 3}, {"kind": "k24", "total": 3}]
    plan = p.explain(spec, PartitionQuery(where=[Condition("at", ">=", day(1)), Condition("at", "<", day(2))]))
    assert wanted[1].name in plan and wanted[0].name not in plan and wanted[2].name not in plan


def test_the_maintenance_lock_is_one_per_table(partitioner: Callable[..., PgPartitioner], unique_table: str) -> None:
    first, second = partitioner(), partitioner()
    spec, other = spec_for(unique_table), spec_for(f"{unique_table}_other")
    a, b, c = (first.lock(spec, this_process()), second.lock(spec, this_process()), second.lock(other, this_process()))
    try:
        assert a.try_acquire() and not b.try_acquire() and c.try_acquire()
        assert "dbplex partition" in (b.holder() or "")
    finally:
        for lock in (a, b, c):
            lock.release()


def test_a_plain_table_converts_to_a_partitioned_one_and_back_keeping_its_rows(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    t, other, view = (sql.Identifier(unique_table + suffix) for suffix in ("", "_other", "_view"))
    raw.execute(
        sql.SQL(
            "CREATE TABLE {t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL, "
            "code text UNIQUE, kind text CHECK (kind <> ''), total int GENERATED ALWAYS AS (length(kind)) STORED); "
            "CREATE INDEX ON {t} (kind); "
            "CREATE TABLE {o} (id int PRIMARY KEY, t_id bigint REFERENCES {t} (id)); "
            "CREATE VIEW {v} AS SELECT id, kind FROM {t} WHERE total > 1"
        ).format(t=t, o=other, v=view)
    )
    raw.execute(
        sql.SQL(
            "INSERT INTO {} (at, code, kind) SELECT %s + g * interval '5 days', 'c' || g, 'k' || g FROM generate_series(1, 20) g"
        ).format(t),
        [day(-60)],
    )
    read = sql.SQL("SELECT id, at, code, kind, total FROM {} ORDER BY id").format(t)
    before = raw.execute(read).fetchall()
    spec = spec_for(unique_table, interval="1 month")
    with raw.transaction():
        notes = convert_to_partitioned(raw, spec)
    assert raw.execute(read).fetchall() == before
    assert any("pkey is now (id, at)" in n for n in notes)
    assert any("dropped" in n and "code" in n for n in notes)
    assert any(f"dropped foreign key {unique_table}_other_t_id_fkey" in n for n in notes)
    inventory = partitioner().inspect(spec)
    labels = [e.partition.label for e in inventory.partitions]
    assert inventory.ready and labels == ["2026-10", "2026-11", "2026-12", "2027-01"]
    assert raw.execute(sql.SQL("SELECT count(*) FROM {}").format(view)).fetchone() == (20,)
    assert raw.execute(
        sql.SQL("INSERT INTO {} (at, kind) VALUES (%s, 'x') RETURNING id").format(t), [NOW]
    ).fetchone() == (21,)
    with raw.transaction():
        convert_to_plain(raw, unique_table, primary_key=["id"])
    assert raw.execute(read).fetchall()[:20] == before
    assert raw.execute(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass(quote_ident(%s))", [unique_table]
    ).fetchone() == ("r",)


def test_a_partition_made_by_hand_under_another_name_is_read_and_retired_by_its_table(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    legacy = f"{unique_table}_legacy"
    raw.execute(
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM (MINVALUE) TO ({})").format(
            sql.Identifier(legacy), sql.Identifier(unique_table), sql.Literal(day(-10).isoformat())
        )
    )
    raw.execute(
        sql.SQL("INSERT INTO {} (at, kind) VALUES (%s, 'old')").format(sql.Identifier(unique_table)), [day(-20)]
    )
    spec = spec_for(unique_table, retention="3 days")
    p = partitioner()
    inventory = p.inspect(spec)
    [found] = [e.partition for e in inventory.partitions]
    assert (found.label, found.lower, found.upper) == ("legacy", None, day(-10))
    assert inventory.details["tables named otherwise"] == [legacy]
    assert p.fetch(spec, found, PartitionQuery(fields=["kind"])) == [{"kind": "old"}]
    p.apply(spec, p.render(spec, Action(kind="retire", partition=found, reason="test")))
    assert children(raw, unique_table) == []
    assert raw.execute("SELECT to_regclass(quote_ident(%s))", [legacy]).fetchone() == (None,)


# -- review fixes: ordering, detached tables, listing, sessions, --now, conversion ----------------

WORDS = ["apple", "Banana", "cherry", "Élan", "éclair", "Zebra", "zoo", "_under", "Ångström", "banana"]


def _linguistic_collation(raw: psycopg.Connection[Any]) -> str | None:
    """A collation of this server that does not sort by code point, or None (C-only servers)."""
    for candidate in ("en-x-icu", "und-x-icu", "en_US.utf8", "en_US.UTF-8", "en_US"):
        row = raw.execute("SELECT collname FROM pg_collation WHERE collname = %s", [candidate]).fetchone()
        if row is None:
            continue
        try:
            order = raw.execute(
                sql.SQL("SELECT array_agg(x ORDER BY x COLLATE {}) FROM unnest(%s::text[]) x").format(
                    sql.Identifier(candidate)
                ),
                [WORDS],
            ).fetchone()
        except psycopg.Error:
            continue  # listed, but its provider is not built in (ICU)
        if order and order[0] != sorted(WORDS):
            return candidate
    return None


@pytest.mark.parametrize("column", ["citext", "enum", "collation"])
def test_each_partition_is_cut_in_the_cores_order_whatever_the_database_orders_text_by(
    raw: psycopg.Connection[Any], pg_url: str, unique_table: str, column: str
) -> None:
    """The merge orders text by code point; a partition cut to ``limit`` rows in the database's own
    text order (a linguistic collation, citext's case folding, an enum's declared order) would
    hand the merge the wrong rows."""
    t = sql.Identifier(unique_table)
    if column == "citext":
        raw.execute("CREATE EXTENSION IF NOT EXISTS citext")
        kind: sql.Composable = sql.SQL("citext")
    elif column == "enum":
        kind = sql.Identifier(f"{unique_table}_word")
        every = dict.fromkeys(WORDS + [w.upper() for w in WORDS])
        scrambled = sorted(every, key=lambda w: w.casefold())  # declared order: case-insensitive
        raw.execute(
            sql.SQL("CREATE TYPE {} AS ENUM ({})").format(kind, sql.SQL(", ").join(sql.Literal(w) for w in scrambled))
        )
    else:
        collation = _linguistic_collation(raw)
        if collation is None:
            pytest.skip("this server has only code-point collations (no ICU, no OS locales): citext and enum cover it")
        kind = sql.SQL("text COLLATE {}").format(sql.Identifier(collation))
    raw.execute(
        sql.SQL("CREATE TABLE {} (id int NOT NULL, at timestamptz NOT NULL, word {}) PARTITION BY RANGE (at)").format(
            t, kind
        )
    )
    try:
        with dbplex.open({"sources": {"pg": {"url": pg_url}}}) as hub:
            spec = spec_for(unique_table, premake=1)
            games = hub.partitioned(spec)
            games.apply(now=NOW)
            rows = [
                {"id": i, "at": NOW + timedelta(hours=(i % 2) * 24), "word": word}
                for i, word in enumerate(WORDS + [w.upper() for w in WORDS])
            ]
            games.insert(rows, now=NOW)
            database_order = [
                r[0]
                for r in raw.execute(sql.SQL("SELECT word::text AS w FROM {} ORDER BY word, id").format(t)).fetchall()
            ]
            assert database_order != sorted(database_order)  # the database's own order is not the core's
            for limit, offset, direction in [(3, 0, "asc"), (4, 2, "asc"), (5, 1, "desc")]:
                order = ["word", "id"] if direction == "asc" else ["-word", "-id"]
                page = games.query(order_by=order, limit=limit, offset=offset)
                expected = sorted(rows, key=lambda r: (r["word"], r["id"]), reverse=direction == "desc")
                assert [(r["word"], r["id"]) for r in page.rows] == [
                    (r["word"], r["id"]) for r in expected[offset : offset + limit]
                ]
                assert len(page.scanned) == 2
    finally:
        raw.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(t))
        raw.execute(sql.SQL("DROP TYPE IF EXISTS {}").format(sql.Identifier(f"{unique_table}_word")))


def test_a_wanted_partition_whose_table_was_detached_is_attached_back(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    spec, p, wanted = with_layout(raw, partitioner, unique_table, premake=1)
    p.insert(spec, [{"at": NOW, "kind": "kept"}])
    today = wanted[0]
    t, child = sql.Identifier(unique_table), sql.Identifier(today.name)
    raw.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(t, child))
    inventory = p.inspect(spec)
    assert (today.name, "detached") in [(e.partition.name, e.state) for e in inventory.partitions]
    result = dbplex.partition.plan(spec, inventory, NOW)
    [create] = [a for a in result.actions if a.kind == "create"]
    p.render(spec, create)
    assert create.commands == [
        "BEGIN;",
        f'ALTER TABLE "{unique_table}" ATTACH PARTITION "{today.name}" FOR VALUES FROM '
        "('2026-11-25 00:00:00+00') TO ('2026-11-26 00:00:00+00');",
        "COMMIT;",
    ]
    p.apply(spec, create)
    assert today.name in children(raw, unique_table)
    assert raw.execute(sql.SQL("SELECT kind FROM {}").format(t)).fetchall() == [("kept",)]
    # Applied without the plan knowing (a create rendered before the detach): still attached, not skipped.
    raw.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(t, child))
    stale = partitioner()
    action = Action(kind="create", partition=today, reason="test")
    stale.apply(spec, action)
    assert today.name in children(raw, unique_table)


def test_a_detached_table_holding_rows_outside_its_bounds_is_refused_with_what_to_do(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, premake=1)
    p = partitioner()
    today = layout(spec, NOW).wanted[0]
    create_all(p, spec, [today])
    t, child = sql.Identifier(unique_table), sql.Identifier(today.name)
    raw.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(t, child))
    raw.execute(sql.SQL("INSERT INTO {} (id, at, kind) VALUES (999, %s, 'stray')").format(child), [day(-40)])
    with pytest.raises(DbplexError, match=rf"{today.name} exists as a table of its own .* holds rows outside"):
        p.apply(spec, p.render(spec, Action(kind="create", partition=today, reason="test")))
    assert children(raw, unique_table) == []


@pytest.mark.parametrize("mode", ["drop", "archive", "detach"])
def test_a_retirement_that_stopped_after_the_detach_is_finished_by_the_next_run(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str, mode: str
) -> None:
    make_table(raw, unique_table)
    archive = f"{unique_table}_archive" if mode == "archive" else None
    spec = spec_for(unique_table, retention="3 days", retention_mode=mode, archive=archive, premake=1)
    expired = time_partition(spec, day(-10))
    p = partitioner()
    create_all(p, spec, [expired, *layout(spec, NOW).wanted])
    raw.execute(
        sql.SQL("INSERT INTO {} (at, kind) VALUES (%s, 'old')").format(sql.Identifier(unique_table)), [day(-10)]
    )
    # the detach went through, the DROP / SET SCHEMA after it did not (the session was lost)
    raw.execute(
        sql.SQL("ALTER TABLE {} DETACH PARTITION {} CONCURRENTLY").format(
            sql.Identifier(unique_table), sql.Identifier(expired.name)
        )
    )
    inventory = p.inspect(spec)
    assert (expired.name, "detached") in [(e.partition.name, e.state) for e in inventory.partitions]
    result = dbplex.partition.plan(spec, inventory, NOW)
    leftovers = [a for a in result.actions if a.partition == expired]
    if mode == "detach":
        assert leftovers == []  # what detach retention leaves behind, on purpose
        return
    [finish] = leftovers
    assert finish.kind == "finalize" and "never" in finish.reason
    p.render(spec, finish)
    expected = (
        [f'DROP TABLE IF EXISTS "{expired.name}";']
        if mode == "drop"
        else [f'CREATE SCHEMA IF NOT EXISTS "{archive}";', f'ALTER TABLE "{expired.name}" SET SCHEMA "{archive}";']
    )
    assert finish.commands == ["BEGIN;", *expected, "COMMIT;"]
    report = dbplex.partition.maintain.run(p, spec, "maintain", now=NOW)
    assert report.status == "done", report.error
    where = raw.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE relname = %s",
        [expired.name],
    ).fetchall()
    assert where == ([] if mode == "drop" else [(archive,)])
    assert not [a for a in p.inspect(spec).actions if a.partition == expired]


def test_a_detached_table_with_rows_inside_the_window_is_never_dropped(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, retention="3 days", premake=1)
    expired = time_partition(spec, day(-10))
    p = partitioner()
    create_all(p, spec, [expired])
    raw.execute(
        sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(sql.Identifier(unique_table), sql.Identifier(expired.name))
    )
    raw.execute(
        sql.SQL("INSERT INTO {} (id, at, kind) VALUES (999, %s, 'new')").format(sql.Identifier(expired.name)), [NOW]
    )
    [finish] = [a for a in p.inspect(spec).actions if a.partition == expired]
    with pytest.raises(DbplexError, match="refusing to retire the detached table"):
        p.apply(spec, p.render(spec, finish))
    assert raw.execute("SELECT to_regclass(quote_ident(%s))", [expired.name]).fetchone() != (None,)


def test_listing_reads_the_catalog_only_and_queries_use_it(
    raw: psycopg.Connection[Any], pg_url: str, unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, premake=1, default=True)
    with dbplex.open({"sources": {"pg": {"url": pg_url}}}) as hub:
        games = hub.partitioned(spec)
        games.apply(now=NOW)
        raw.execute(
            sql.SQL("INSERT INTO {} (at, kind) VALUES (%s, 'old'), (%s, 'now')").format(sql.Identifier(unique_table)),
            [day(-40), NOW],
        )
        p = hub.partitioner("pg")
        assert isinstance(p, PgPartitioner)
        listed, inspected = p.listing(spec), p.inspect(spec, now=NOW)
        assert listed.partitions == inspected.partitions and listed.default_exclusive
        assert listed.actions == [] and inspected.outside == 1 and listed.outside is None
        assert games.status(now=NOW).outside == 1
        page = games.query(("at", ">=", NOW), ("at", "<", day(1)), fields=["kind"])
        assert page.rows == [{"kind": "now"}] and f"{unique_table}_default" in page.pruned


def test_fetches_from_many_threads_at_once_each_get_their_own_rows(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, interval="1 hour", premake=23)
    p = partitioner()
    wanted = [w for w in layout(spec, NOW).wanted if w.lower >= day(0)]
    create_all(p, spec, wanted)
    p.insert(spec, [{"at": w.lower + timedelta(minutes=m), "kind": w.name} for w in wanted for m in range(3)])
    query = PartitionQuery(order_by=[Order("at")], fields=["kind"])
    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def worker(n: int) -> None:
        try:
            start.wait(30)
            for w in wanted[n % 4 :: 4]:
                results[(n, w.name)] = p.fetch(spec, w, query)
                if n % 5 == 0:  # transactions on other sessions interleave with the reads
                    p.insert(spec, [{"at": w.lower + timedelta(minutes=30), "kind": "extra"}])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    for (_, name), rows in results.items():
        assert [r["kind"] for r in rows][:3] == [name] * 3 and {r["kind"] for r in rows} <= {name, "extra"}
    assert len(results) == sum(len(wanted[n % 4 :: 4]) for n in range(16))


def test_lock_timeout_does_not_stay_on_the_sessions_that_serve_queries(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, retention="3 days", options={"lock_timeout": "7s"})
    expired = time_partition(spec, day(-10))
    p = partitioner()
    create_all(p, spec, [expired])
    action = p.render(spec, Action(kind="retire", partition=expired, reason="test", now=NOW))
    assert action.commands[0].endswith("CONCURRENTLY;")  # autocommit: a session-level setting
    p.apply(spec, action)
    with p._session() as conn:  # white-box: an admin session the partitioner would use next
        assert conn.execute("SHOW lock_timeout").fetchone() == ("0",)


def test_inspect_judges_the_fence_and_misplaced_rows_at_the_moment_it_is_given(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    make_table(raw, unique_table)
    spec = spec_for(unique_table, premake=1, default=True)
    p = partitioner()  # its clock says NOW
    create_all(p, spec, [*layout(spec, NOW).wanted])
    assert not p.inspect(spec).actions
    later = NOW + timedelta(days=3)
    raw.execute(sql.SQL("INSERT INTO {} (at, kind) VALUES (%s, 'x')").format(sql.Identifier(unique_table)), [day(1)])
    found = p.inspect(spec, now=later)
    [fence] = [a for a in found.actions if isinstance(a.payload, Fence)]
    assert fence.payload.horizon == day(5)
    assert found.misplaced == 0  # 2026-11-26 has its partition
    report = dbplex.partition.maintain.run(p, spec, "apply", now=later)
    assert report.status == "done" and p.inspect(spec, now=later).details["default fence"] == day(5).isoformat()


def test_a_unique_index_without_the_partition_key_gets_it_in_the_conversion(
    raw: psycopg.Connection[Any], partitioner: Callable[..., PgPartitioner], unique_table: str
) -> None:
    t = sql.Identifier(unique_table)
    raw.execute(
        sql.SQL(
            "CREATE TABLE {t} (id bigint PRIMARY KEY, at timestamptz NOT NULL, code text, tag text); "
            "CREATE UNIQUE INDEX {i} ON {t} (code) WHERE code IS NOT NULL; "
            "CREATE UNIQUE INDEX {e} ON {t} (lower(tag))"
        ).format(t=t, i=sql.Identifier(f"{unique_table}_code"), e=sql.Identifier(f"{unique_table}_tag"))
    )
    raw.execute(sql.SQL("INSERT INTO {} VALUES (1, %s, 'a', 'x'), (2, %s, 'b', 'y')").format(t), [day(-40), NOW])
    spec = spec_for(unique_table, interval="1 month")
    with raw.transaction():
        notes = convert_to_partitioned(raw, spec)
    assert any("unique index is now (code, at)" in n for n in notes)
    assert any("dropped unique index" in n and "lower(tag)" in n for n in notes)
    definition = raw.execute(
        "SELECT pg_get_indexdef(to_regclass(quote_ident(%s)))", [f"{unique_table}_code"]
    ).fetchone()
    assert definition and "(code, at) WHERE (code IS NOT NULL)" in definition[0]
    assert partitioner().inspect(spec).ready
    assert raw.execute(sql.SQL("SELECT count(*) FROM {}").format(t)).fetchone() == (2,)


def test_a_forked_hub_keeps_its_partitioners_on_the_childs_own_sessions(pg_url: str) -> None:
    """A partitioner holds the hub's endpoints, not connections: after a fork it draws sessions
    from the child's new admin pool, and the parent's pool is dropped, not closed."""
    with dbplex.open({"sources": {"pg": {"url": pg_url}}}) as hub:
        first = hub.partitioner("pg")
        first.listing(spec_for("no_such_table"))
        inherited = hub.pool_stats()["pg/admin"]
        assert inherited.size >= 1
        hub.after_fork()
        assert "pg/admin" not in hub.pool_stats()  # dropped: the child opens its own on first use
        assert hub.partitioner("pg") is first
        assert first.listing(spec_for("no_such_table")).problem  # works, on a new admin pool
        assert hub.pool_stats()["pg/admin"].max == 4
