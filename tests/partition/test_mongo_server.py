"""The MongoDB partitioner on a real server (mongod, or the nx-27017 stand-in).

Each test has a database of its own, dropped afterwards. What nx-27017 0.8.1 cannot do is
skipped with the exact reason: it accepts ``create`` with ``timeseries`` but makes a regular
collection, and it answers ``ok`` to ``renameCollection`` without renaming.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pymongo
import pytest
from bson.codec_options import CodecOptions
from click.testing import CliRunner
from pymongo.database import Database

import dbplex
from dbplex.cli.main import cli
from dbplex.migrate import Migrations
from dbplex.migrate.locking import this_process
from dbplex.partition import Condition, Order, PartitionQuery
from dbplex.partition.errors import KeyOutOfRange
from dbplex.partition.layout import layout
from dbplex.partition.maintain import make_plan, run, status
from dbplex.partition.scatter import query as scatter
from dbplex.testing.plugin import Servers
from dbplex_mongo.partition import MongoPartitioner
from dbplex_mongo.partition_layout import PROBE_PREFIX
from tests.partition.conftest import spec_factory
from tests.partition.workers import run_concurrently

Doc = dict[str, Any]
NOW = datetime(2026, 11, 25, 13, 30, tzinfo=timezone.utc)
DAY = timedelta(days=1)
_UTC: CodecOptions[Doc] = CodecOptions(tz_aware=True, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def server_url(dbplex_servers: Servers) -> str:
    return dbplex_servers.url("mongo")


@pytest.fixture(scope="module")
def on_nx(server_url: str) -> bool:
    with pymongo.MongoClient(server_url, serverSelectionTimeoutMS=5000) as client:
        return client.admin.command("buildInfo").get("process") == "nx_27017"


@pytest.fixture(scope="module")
def version(server_url: str) -> str:
    with pymongo.MongoClient(server_url, serverSelectionTimeoutMS=5000) as client:
        return str(client.admin.command("buildInfo")["version"])


@pytest.fixture
def url(server_url: str) -> Iterator[str]:
    """A URL naming a fresh database, dropped afterwards."""
    name = f"part_{uuid.uuid4().hex[:10]}"
    head, _, query = server_url.partition("?")
    base = head.rstrip("/").rsplit("/", 1)[0] if head.count("/") > 2 else head.rstrip("/")
    yield f"{base}/{name}" + (f"?{query}" if query else "")
    with pymongo.MongoClient(server_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


@pytest.fixture
def db(url: str) -> Iterator[Database[Doc]]:
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    yield client.get_default_database().with_options(codec_options=_UTC)
    client.close()


@pytest.fixture
def partitioner(url: str) -> Iterator[MongoPartitioner]:
    with dbplex.open({"sources": {"docs": {"url": url}}}) as hub:
        found = hub.partitioner("docs")
        assert isinstance(found, MongoPartitioner)
        yield found


spec = spec_factory(source="docs", target="logs", premake=2)


def names(db: Database[Doc], prefix: str = "logs_") -> list[str]:
    return sorted(n for n in db.list_collection_names() if n.startswith(prefix))


def day(offset: int) -> str:
    return f"logs_p{(NOW + offset * DAY):%Y_%m_%d}"


# -- per-period collections ---------------------------------------------------------------------


def test_maintain_creates_each_period_once_and_keeps_the_premake_horizon(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    first = run(partitioner, spec(), now=NOW)
    assert first.status == "done", first.error
    assert names(db) == [day(0), day(1), day(2)]
    assert first.actions[0].commands == [f'db.runCommand({{"create": "{day(0)}"}})']
    assert run(partitioner, spec(), now=NOW).message == "nothing to do"
    # a day later the horizon moves one day: one more collection, nothing dropped without retention
    later = run(partitioner, spec(), now=NOW + DAY)
    assert [a.partition for a in later.actions] == [day(3)]
    assert names(db) == [day(0), day(1), day(2), day(3)]
    horizon = layout(spec(), NOW + DAY).horizon
    assert isinstance(horizon, datetime) and f"logs_p{(horizon - DAY):%Y_%m_%d}" == day(3)


def test_concurrent_maintenance_from_several_processes_creates_each_partition_once(url: str, db: Database[Doc]) -> None:
    wanted = spec(premake=5, retention="3 days")
    reports = run_concurrently({"url": url}, wanted, NOW)
    assert all(r["status"] in ("done", "nothing") for r in reports), reports
    created = [name for r in reports for name in r["created"]]
    expected = [p.name for p in layout(wanted, NOW).wanted]
    assert sorted(created) == sorted(expected)  # each exactly once, by whichever run held the lock
    assert names(db) == sorted(expected)
    assert db["dbplex_schema_lock"].count_documents({}) == 0  # every lease released


def test_retention_drops_exactly_the_periods_past_the_window(partitioner: MongoPartitioner, db: Database[Doc]) -> None:
    kept = spec(retention="3 days")
    assert run(partitioner, kept, now=NOW).status == "done"
    assert names(db)[0] == day(-3)  # the window reaches back into 2026-11-22
    edge = NOW + DAY - timedelta(days=3)  # the cutoff of the next run: 2026-11-23 13:30
    rows = [{"at": edge, "n": 1}, {"at": edge + timedelta(hours=5), "n": 2}, {"at": NOW - 3 * DAY, "n": 0}]
    assert partitioner.insert(kept, rows) == 3
    report = run(partitioner, kept, now=NOW + DAY)
    assert [(a.kind, a.partition) for a in report.actions] == [("create", day(3)), ("retire", day(-3))]
    assert report.actions[1].commands == [f'db.runCommand({{"drop": "{day(-3)}"}})']
    assert names(db) == [day(-2), day(-1), day(0), day(1), day(2), day(3)]
    # the partition holding the cutoff keeps every row, the in-window ones included
    assert sorted(d["n"] for d in db[day(-2)].find()) == [1, 2]


def test_archive_renames_retired_periods(partitioner: MongoPartitioner, db: Database[Doc], on_nx: bool) -> None:
    if on_nx:
        pytest.skip("nx-27017 0.8.1 answers ok to renameCollection but does not rename the collection")
    archived = spec(retention="3 days", retention_mode="archive", archive="old_")
    run(partitioner, archived, now=NOW)
    report = run(partitioner, archived, now=NOW + DAY)
    assert ("retire", day(-3)) in [(a.kind, a.partition) for a in report.actions]
    assert f"old_{day(-3)}" in db.list_collection_names() and day(-3) not in db.list_collection_names()
    states = {e.partition.name: e.state for e in partitioner.inspect(archived).partitions}
    assert states[day(-3)] == "archived"


def test_new_periods_copy_the_template_indexes(partitioner: MongoPartitioner, db: Database[Doc]) -> None:
    # ascending only: nx-27017 0.8.1 lists every index key as ascending (and renames indexes)
    db["logs_template"].create_index([("level", 1), ("at", 1)], name="level_time")
    templated = spec(options={"template": "logs_template"})
    plan = make_plan(partitioner, templated, NOW)
    assert any('"createIndexes"' in c for c in plan.actions[0].commands)
    assert run(partitioner, templated, now=NOW).status == "done"
    keys = [dict(i["key"]) for i in db[day(0)].list_indexes()]
    assert {"level": 1, "at": 1} in keys


def test_a_missing_template_is_a_problem(partitioner: MongoPartitioner) -> None:
    report = run(partitioner, spec(options={"template": "nope"}), now=NOW)
    assert report.status == "failed" and "template collection 'nope' does not exist" in (report.error or "")


# -- rows ---------------------------------------------------------------------------------------


def test_insert_routes_rows_and_refuses_rows_without_a_partition(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    run(partitioner, spec(), now=NOW)
    assert partitioner.insert(spec(), [{"at": NOW, "n": 1}, {"at": NOW + DAY, "n": 2}, {"at": NOW, "n": 3}]) == 3
    assert db[day(0)].count_documents({}) == 2 and db[day(1)].count_documents({}) == 1
    with pytest.raises(KeyOutOfRange, match=rf"{day(9)} does not exist: run `dbplex partition maintain`"):
        partitioner.insert(spec(), [{"at": NOW, "n": 4}, {"at": NOW + 9 * DAY, "n": 5}])
    with pytest.raises(KeyOutOfRange, match="no partition takes at = None"):
        partitioner.insert(spec(), [{"n": 6}])
    assert sum(db[n].count_documents({}) for n in names(db)) == 3  # nothing of a refused batch was written


def test_a_default_collection_takes_rows_no_period_takes(partitioner: MongoPartitioner, db: Database[Doc]) -> None:
    listed = spec(strategy="list", interval=None, key="region", lists={"eu": ["de", "fr"]}, default=True)
    assert run(partitioner, listed, now=NOW).status == "done"
    assert names(db) == ["logs_default", "logs_eu"]
    partitioner.insert(listed, [{"region": "de"}, {"region": "us"}])
    assert db["logs_eu"].count_documents({}) == 1 and db["logs_default"].count_documents({}) == 1


#: ``id`` orders rows (nx-27017 0.8.1 sorts ``_id`` as text: 0, 1, 10, 11, ...).
ROWS = [
    {
        "_id": i,
        "id": i,
        "at": NOW - 3 * DAY + i * timedelta(hours=4),
        "grp": i % 4,
        "name": f"n{i % 7}",
        **({} if i % 10 == 9 else {"opt": None if i % 3 else i % 5}),  # None, missing, and ties
    }
    for i in range(30)
]
QUERIES = [
    PartitionQuery(),
    # None and missing sort after every value ascending, before every value descending
    PartitionQuery(order_by=[Order("opt"), Order("id")], limit=6),
    PartitionQuery(order_by=[Order("opt", "desc"), Order("id")], limit=8, offset=2),
    PartitionQuery(order_by=[Order("grp"), Order("opt"), Order("id", "desc")], limit=4),
    PartitionQuery(order_by=[Order("opt"), Order("grp", "desc")], limit=25, fields=["id"]),
    PartitionQuery(order_by=[Order("at")], limit=7),
    PartitionQuery(order_by=[Order("at", "desc")], limit=5, offset=3),
    PartitionQuery(where=[Condition("at", ">=", NOW - DAY), Condition("grp", "in", [1, 2])], order_by=[Order("id")]),
    PartitionQuery(
        where=[Condition("at", "<", NOW), Condition("name", "!=", "n3")],
        order_by=[Order("grp"), Order("id", "desc")],
        limit=9,
    ),
    PartitionQuery(where=[Condition("opt", "==", None)], order_by=[Order("name"), Order("id")], fields=["_id", "name"]),
    PartitionQuery(where=[Condition("at", ">", NOW + 5 * DAY)]),
]


@pytest.mark.parametrize("layout_name", ["collections", "collection"])
def test_a_query_over_all_partitions_equals_it_on_an_unpartitioned_copy(
    partitioner: MongoPartitioner, db: Database[Doc], layout_name: str
) -> None:
    target = spec(since="2026-11-22", options={"layout": layout_name})
    rows, queries = ROWS, QUERIES
    if layout_name == "collection":  # virtual periods follow the real clock: move the rows to it
        base = datetime.now(timezone.utc).replace(microsecond=0)
        rows = [{**r, "at": r["at"] - NOW + base} for r in ROWS]
        queries = [_shift(q, base) for q in QUERIES]
    assert run(partitioner, target, now=NOW).status == "done"
    assert partitioner.insert(target, rows) == len(rows)
    db["copy"].insert_many([dict(r) for r in rows])
    inventory = partitioner.inspect(target)
    for request in queries:
        assert scatter(partitioner, target, inventory, request).rows == _on_copy(db, request), request


def _shift(request: PartitionQuery, base: datetime) -> PartitionQuery:
    where = [Condition(c.field, c.op, c.value - NOW + base) if c.field == "at" else c for c in request.where]
    return msgspec.structs.replace(request, where=where)


def _on_copy(db: Database[Doc], request: PartitionQuery) -> list[Doc]:
    """The same query on the unpartitioned copy: MongoDB filters, then the order the core defines
    (None after every value ascending, before every value descending), offset, limit and fields."""
    from dbplex_mongo import partition_render as render

    found = list(db["copy"].find(render.query_filter(request)))
    for order in reversed(request.order_by):  # stable sorts, least significant field first
        found.sort(key=lambda r, f=order.field: (r.get(f) is None, r.get(f)), reverse=order.direction == "desc")
    end = None if request.limit is None else request.offset + request.limit
    found = found[request.offset : end]
    return found if request.fields is None else [{f: r[f] for f in request.fields if f in r} for r in found]


def test_fetch_applies_conditions_order_and_limit_in_one_partition(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    run(partitioner, spec(), now=NOW)
    partitioner.insert(spec(), [{"at": NOW + timedelta(minutes=i), "n": i} for i in range(10)])
    today = next(e.partition for e in partitioner.inspect(spec()).partitions if e.partition.name == day(0))
    request = PartitionQuery(where=[Condition("n", ">=", 3)], order_by=[Order("n", "desc")], limit=3, fields=["n"])
    assert partitioner.fetch(spec(), today, request) == [{"n": 9}, {"n": 8}, {"n": 7}]
    rows = partitioner.fetch(spec(), today, PartitionQuery(where=[Condition("n", "==", 0)]))
    assert rows[0]["at"] == NOW and rows[0]["at"].tzinfo is not None  # aware UTC, as the core compares


# -- time series ---------------------------------------------------------------------------------


def test_time_series_setup_creates_the_collection_and_follows_retention(
    partitioner: MongoPartitioner, db: Database[Doc], on_nx: bool
) -> None:
    series = spec(
        retention="30 days", options={"layout": "timeseries", "meta_field": "level", "granularity": "minutes"}
    )
    if on_nx:
        report = run(partitioner, series)
        assert report.status == "failed"
        assert "made a regular collection (type 'collection', dropped again): it has no time-series" in (
            report.error or ""
        )
        assert "logs" not in db.list_collection_names()
        pytest.skip("nx-27017 0.8.1 accepts create with timeseries but makes a regular collection")
    report = run(partitioner, series)
    assert report.status == "done", report.error
    info = next(c for c in db.list_collections() if c["name"] == "logs")
    assert info["type"] == "timeseries" and info["options"]["expireAfterSeconds"] == 30 * 86400
    assert info["options"]["timeseries"]["metaField"] == "level"
    assert run(partitioner, series).message == "nothing to do"
    longer = spec(
        retention="60 days", options={"layout": "timeseries", "meta_field": "level", "granularity": "minutes"}
    )
    assert [a.commands for a in run(partitioner, longer).actions] == [
        ['db.runCommand({"collMod": "logs", "expireAfterSeconds": 5184000})']
    ]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    partitioner.insert(longer, [{"at": now - timedelta(days=i), "level": "info", "n": i} for i in range(5)])
    with pytest.raises(KeyOutOfRange):
        partitioner.insert(longer, [{"at": now + timedelta(days=30), "level": "info"}])
    inventory = partitioner.inspect(longer)
    request = PartitionQuery(order_by=[Order("at", "desc")], limit=3, fields=["n"])
    assert scatter(partitioner, longer, inventory, request).rows == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_regular_collection_in_the_way_of_a_time_series_says_what_to_do(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    db.create_collection("logs")
    db["logs"].insert_one({"at": NOW})
    report = run(partitioner, spec(options={"layout": "timeseries"}), now=NOW)
    assert report.status == "failed"
    error = report.error or ""
    assert (
        "collection 'logs' exists as a regular collection, and MongoDB cannot turn a collection into a time series"
        in error
    )
    assert "partition_convert.timeseries_for(ctx, spec)" in error and '"timeseries": {"timeField": "at"}' in error
    with pytest.raises(KeyOutOfRange, match="exists as a regular collection"):
        partitioner.insert(spec(options={"layout": "timeseries"}), [{"at": datetime.now(timezone.utc)}])


# -- hash and sharding ---------------------------------------------------------------------------


def test_hash_partitions_are_one_collection_with_shard_commands_shown_off_a_mongos(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    if partitioner.is_mongos():
        pytest.skip("the test server is a mongos: shardCollection would run for real")
    hashed = spec(strategy="hash", interval=None, key="uid", modulus=4, colocate="team")
    plan = make_plan(partitioner, hashed)
    assert [a.kind for a in plan.actions] == ["setup"]
    assert plan.actions[0].commands == [
        'db.runCommand({"create": "logs"})',
        "// would run on a sharded cluster (this server is not a mongos): "
        f'db.adminCommand({{"shardCollection": "{db.name}.logs", "key": {{"team": 1, "uid": "hashed"}}}})',
    ]
    assert run(partitioner, hashed).status == "done"
    assert run(partitioner, hashed).message == "nothing to do"
    report = status(partitioner, hashed)
    assert report.ready and report.details["sharding"].startswith("not sharded: this server is not a mongos")
    partitioner.insert(hashed, [{"uid": i, "team": i % 3} for i in range(12)])
    request = PartitionQuery(order_by=[Order("uid")], fields=["uid"])
    rows = scatter(partitioner, hashed, partitioner.inspect(hashed), request).rows
    assert rows == [{"uid": i} for i in range(12)]


def test_one_collection_for_lists_with_zones_shown_off_a_mongos(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    if partitioner.is_mongos():
        pytest.skip("the test server is a mongos: the zone commands would run for real")
    regions = spec(
        strategy="list",
        interval=None,
        key="region",
        lists={"eu": ["de", "fr"], "us": ["us"]},
        options={"layout": "collection", "shard": True, "zones": {"eu": "EU"}},
    )
    plan = make_plan(partitioner, regions)
    assert [a.kind for a in plan.actions] == ["setup"]  # one setup, whatever it needs
    commands = plan.actions[0].commands
    assert commands[0] == 'db.runCommand({"create": "logs"})'
    assert [c.split(": db.adminCommand(")[1].split(":")[0] for c in commands[1:]] == [
        '{"shardCollection"',
        '{"updateZoneKeyRange"',
        '{"updateZoneKeyRange"',
    ]
    assert all(c.startswith("// would run on a sharded cluster") for c in commands[1:])
    assert run(partitioner, regions).status == "done"
    assert partitioner.insert(regions, [{"region": "de"}, {"region": "us"}]) == 2
    with pytest.raises(KeyOutOfRange, match="no partition takes region = 'jp'"):
        partitioner.insert(regions, [{"region": "fr"}, {"region": "jp"}])
    assert db["logs"].count_documents({}) == 2
    eu = next(e.partition for e in partitioner.inspect(regions).partitions if e.partition.label == "eu")
    assert [r["region"] for r in partitioner.fetch(regions, eu, PartitionQuery(fields=["region"]))] == ["de"]


# -- the lock ------------------------------------------------------------------------------------


def test_the_maintenance_lease_is_per_target_and_apart_from_the_migration_lease(partitioner: MongoPartitioner) -> None:
    first = partitioner.lock(spec(), this_process())
    second = partitioner.lock(spec(), this_process())
    other = partitioner.lock(spec(target="metrics"), this_process())
    assert first.try_acquire() and not second.try_acquire() and other.try_acquire()
    assert "partition:logs" in first.describe() and "pid" in (second.holder() or "")
    first.release()
    assert second.try_acquire()
    second.release()
    other.release()


def test_status_says_what_is_missing_before_setup(partitioner: MongoPartitioner) -> None:
    report = status(partitioner, spec(), now=NOW)
    assert report.missing == [day(0), day(1), day(2)] and report.layout == "collections"
    assert (
        report.layout_reason == "no layout given: the default for range partitions" and "layout" not in report.details
    )


def test_what_mongodb_cannot_do_stops_the_run_before_any_command(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    report = run(partitioner, spec(options={"layout": "timeseries", "meta_field": "at"}))
    assert report.exit_code == 2 and "meta_field 'at' must differ" in (report.error or "")
    assert names(db, "logs") == []


# -- converting a regular collection in a migration ---------------------------------------------

CONVERT = """from dbplex_mongo.partition_convert import to_regular, to_timeseries
from dbplex_mongo.schema import Index

LEVEL_TIME = Index("level_time", [("level", 1), ("at", -1)])


def up(ctx):
    to_timeseries(ctx, "logs", time_field="at", meta_field="level", expire_after_seconds=30 * 86400,
                  indexes=[LEVEL_TIME], batch_size=3)


def down(ctx):
    to_regular(ctx, "logs", validator={"bsonType": "object", "required": ["at"]}, indexes=[LEVEL_TIME], batch_size=3)
"""


def migrate(url: str, directory: Path, direction: str = "up", dry_run: bool = False) -> tuple[Any, list[str]]:
    (directory / "mongo").mkdir(exist_ok=True)
    (directory / "mongo" / "V0001__logs_timeseries.py").write_text(CONVERT)
    notes: list[str] = []
    with (
        dbplex.open({"sources": {"mongo": {"url": url}}}) as hub,
        Migrations(hub, directory, notify=lambda event: notes.append(event.message)) as migrations,
    ):
        if dry_run:
            return migrations.plan(dry_run=True), notes
        return (migrations.up() if direction == "up" else migrations.down(to="mongo:V0")), notes


def types(db: Database[Doc]) -> dict[str, str]:
    return {c["name"]: c.get("type", "collection") for c in db.list_collections()}


def test_a_migration_leaves_a_collection_alone_on_a_server_without_time_series(
    url: str, db: Database[Doc], tmp_path: Path, on_nx: bool
) -> None:
    if not on_nx:
        pytest.skip("the server has time-series collections: the next test converts")
    db["logs"].insert_many([{"at": NOW - timedelta(hours=i), "level": "info", "n": i} for i in range(7)])
    report, notes = migrate(url, tmp_path)
    assert report.error is None
    assert any(
        "logs: this server (nx_27017, reporting version" in n and "makes no time-series collections" in n for n in notes
    )
    assert any(n.endswith("; it stays a regular collection") for n in notes)
    assert set(types(db)) - {"dbplex_schema_history", "dbplex_schema_lock"} == {"logs"}  # no probe left
    assert db["logs"].count_documents({}) == 7
    report, notes = migrate(url, tmp_path, "down")
    assert report.error is None and any("not a time-series collection; nothing to undo" in n for n in notes)


def test_a_migration_converts_a_regular_collection_into_a_time_series_and_back(
    url: str, db: Database[Doc], tmp_path: Path, on_nx: bool
) -> None:
    if on_nx:
        pytest.skip("nx-27017 0.8.1 accepts create with timeseries but makes a regular collection")
    db["logs"].insert_many([{"at": NOW - timedelta(hours=i), "level": "info", "n": i} for i in range(7)])
    plan, _ = migrate(url, tmp_path, dry_run=True)
    shown = "\n".join(c for step in plan.steps for c in step.commands)
    assert '"insert": "logs_regular"' in shown and '"timeseries": {"timeField": "at", "metaField": "level"}' in shown
    report, _ = migrate(url, tmp_path)
    assert report.error is None, report.error
    assert types(db)["logs"] == "timeseries" and "logs_regular" not in types(db)
    assert sorted(d["n"] for d in db["logs"].find()) == list(range(7))
    info = next(c for c in db.list_collections() if c["name"] == "logs")
    assert info["options"]["expireAfterSeconds"] == 30 * 86400
    report, _ = migrate(url, tmp_path, "down")
    assert report.error is None, report.error
    assert types(db)["logs"] == "collection" and sorted(d["n"] for d in db["logs"].find()) == list(range(7))
    assert "level_time" in [i["name"] for i in db["logs"].list_indexes()]


# -- review fixes: the moment, naming, hash scans, listing ---------------------------------------

#: a moment far from the clock, so that a partitioner reading the clock instead gets it wrong.
PAST = datetime(2024, 3, 10, 8, 0, tzinfo=timezone.utc)


def test_a_default_collection_of_a_target_with_a_colon_is_the_partition_name(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    listed = spec(target="app:logs", strategy="list", interval=None, key="region", lists={"eu": ["de"]}, default=True)
    assert run(partitioner, listed, now=NOW).status == "done"
    assert names(db, "app") == ["app_logs_default", "app_logs_eu"]
    assert partitioner.insert(listed, [{"region": "de"}, {"region": "us"}]) == 2
    assert db["app_logs_default"].count_documents({}) == 1 and "app:logs_default" not in db.list_collection_names()


def test_a_single_collection_is_inspected_and_written_for_the_moment_given(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    kept = spec(retention="3 days", options={"layout": "collection"})
    report = run(partitioner, kept, now=PAST)
    assert report.status == "done", report.error
    inventory = partitioner.inspect(kept, now=PAST)
    periods = [e.partition for e in inventory.partitions]
    assert [p.lower for p in periods] == [p.lower for p in layout(kept, PAST).wanted]
    assert periods[-1].upper == layout(kept, PAST).horizon  # the horizon of that moment, not of the clock
    assert run(partitioner, kept, now=PAST).message == "nothing to do"
    assert status(partitioner, kept, now=PAST).missing == []
    row = {"at": PAST, "n": 1}
    assert partitioner.insert(kept, [row], now=PAST) == 1  # inside the window at PAST
    with pytest.raises(KeyOutOfRange, match="no partition takes at"):
        partitioner.insert(kept, [row])  # by the clock it left the window long ago
    with pytest.raises(KeyOutOfRange, match="no partition takes at"):
        partitioner.insert(kept, [{"at": NOW}], now=PAST)  # far beyond the horizon of PAST
    assert db["logs"].count_documents({}) == 1
    found = scatter(partitioner, kept, inventory, PartitionQuery(where=[Condition("at", "==", PAST)]))
    assert [r["n"] for r in found.rows] == [1] and len(found.scanned) == 1


def test_per_period_collections_are_planned_and_retired_for_the_moment_given(
    partitioner: MongoPartitioner, db: Database[Doc]
) -> None:
    kept = spec(retention="2 days")
    assert run(partitioner, kept, now=PAST).status == "done"
    assert names(db) == [f"logs_p{(PAST + o * DAY):%Y_%m_%d}" for o in range(-2, 3)]
    later = run(partitioner, kept, now=PAST + 3 * DAY)
    assert [a.partition for a in later.actions if a.kind == "retire"] == [
        f"logs_p{(PAST + o * DAY):%Y_%m_%d}" for o in (-2, -1, 0)
    ]


def test_a_hash_collection_is_scanned_once_and_reported_so(partitioner: MongoPartitioner, url: str) -> None:
    hashed = spec(strategy="hash", interval=None, key="uid", modulus=4)
    assert run(partitioner, hashed).status == "done"
    assert [e.partition.name for e in partitioner.inspect(hashed).partitions] == [f"logs_h{r}" for r in range(4)]
    partitioner.insert(hashed, [{"uid": i} for i in range(10)])
    request = PartitionQuery(order_by=[Order("uid")], fields=["uid"], limit=3)
    listed = partitioner.listing(hashed)
    assert [e.partition.name for e in listed.partitions] == ["logs_h0"]  # one collection, read once
    found = scatter(partitioner, hashed, listed, request)
    assert found.rows == [{"uid": 0}, {"uid": 1}, {"uid": 2}] and found.scanned == ["logs_h0"]
    pinned = PartitionQuery(where=[Condition("uid", "in", [3, 7])], order_by=[Order("uid")], fields=["uid"])
    found = scatter(partitioner, hashed, partitioner.inspect(hashed), pinned)  # the whole inventory, pinned key
    assert found.rows == [{"uid": 3}, {"uid": 7}] and found.scanned == ["logs_h0"]
    with dbplex.open({"sources": {"docs": {"url": url}}}) as hub:  # queries list partitions with `listing`
        page = hub.partitioned(hashed).query(order_by=["-uid"], limit=2)
        assert [r["uid"] for r in page.rows] == [9, 8] and page.scanned == ["logs_h0"]


def test_queries_list_per_period_collections_by_name_alone(partitioner: MongoPartitioner, db: Database[Doc]) -> None:
    assert run(partitioner, spec(), now=NOW).status == "done"
    db.create_collection(f"{day(0)}_backup")  # not a partition
    listed = partitioner.listing(spec())
    assert [e.partition.name for e in listed.partitions] == [day(0), day(1), day(2)]
    assert listed.actions == [] and all(e.rows is None for e in listed.partitions)


def test_the_periods_of_a_time_series_not_made_yet_are_those_of_the_moment_given(
    partitioner: MongoPartitioner,
) -> None:
    series = spec(retention="3 days", options={"layout": "timeseries"})
    inventory = partitioner.inspect(series, now=PAST)
    assert [a.kind for a in inventory.actions] == ["setup"]
    assert [e.partition for e in inventory.partitions] == layout(series, PAST).wanted


# -- layout auto: the server decides ---------------------------------------------------------------

#: the scheduling example's `logs`: by day, kept 14 days, laid out as the server allows.
auto = spec_factory(source="docs", target="logs", premake=2, retention="14 days", options={"layout": "auto"})


def probes(db: Database[Doc]) -> list[str]:
    return [n for n in db.list_collection_names() if n.startswith(PROBE_PREFIX)]


def test_auto_is_a_collection_per_day_on_a_server_without_time_series(
    partitioner: MongoPartitioner, db: Database[Doc], on_nx: bool, version: str
) -> None:
    if not on_nx:
        pytest.skip("the server is not nx-27017: the next test covers auto where time series exist")
    db.create_collection("logs")  # as the scheduling migrations leave it: a regular collection
    planned = make_plan(partitioner, auto(), NOW)
    assert planned.inventory.layout == "collections"
    assert planned.inventory.layout_reason == (
        f"one collection per day: this server (nx_27017, reporting version {version}) makes no time-series "
        "collections (it accepted a time-series `create` and made a collection of type 'collection')"
    )
    assert planned.actions[0].commands == [f'db.runCommand({{"create": "{day(-14)}"}})']
    assert probes(db) == []  # the probe dropped its scratch collection
    report = run(partitioner, auto(), now=NOW)
    assert report.status == "done", report.error
    assert names(db) == [day(o) for o in range(-14, 3)]
    rows = [{"at": NOW - timedelta(hours=h), "level": "info", "n": h} for h in range(5)]
    assert partitioner.insert(auto(), rows, now=NOW) == 5
    assert db[day(0)].count_documents({}) == 5 and db["logs"].count_documents({}) == 0
    found = scatter(partitioner, auto(), partitioner.listing(auto()), PartitionQuery(order_by=[Order("n")]))
    assert [r["n"] for r in found.rows] == [0, 1, 2, 3, 4]
    kept = status(partitioner, auto(), now=NOW)  # now the day collections decide, without asking the server
    assert kept.ready and kept.pending == 0 and kept.layout == "collections"
    assert kept.layout_reason == (
        f"one collection per day: 17 of them exist already ({day(-14)} ... {day(2)}), "
        "and a time series would not see their documents"
    )


def test_auto_is_a_time_series_on_a_server_that_makes_them(
    partitioner: MongoPartitioner, db: Database[Doc], on_nx: bool, version: str
) -> None:
    if on_nx:
        pytest.skip(
            "nx-27017 makes no time-series collections (it accepts a time-series create and makes a regular "
            "collection): give MongoDB 5.0+ in DBPLEX_TEST_MONGO_URL"
        )
    if tuple(int(part) for part in version.split(".")[:2]) < (5, 0):
        pytest.skip(f"MongoDB {version} makes no time-series collections (5.0+ does)")
    planned = make_plan(partitioner, auto(), NOW)
    assert planned.inventory.layout == "timeseries"
    assert planned.inventory.layout_reason == f"time series: MongoDB {version} makes time-series collections"
    assert [a.kind for a in planned.actions] == ["setup"] and probes(db) == []
    report = run(partitioner, auto())
    assert report.status == "done", report.error
    info = next(c for c in db.list_collections() if c["name"] == "logs")
    assert info["type"] == "timeseries" and info["options"]["expireAfterSeconds"] == 14 * 86400
    now = datetime.now(timezone.utc).replace(microsecond=0)
    assert partitioner.insert(auto(), [{"at": now - timedelta(hours=h), "n": h} for h in range(3)]) == 3
    found = scatter(partitioner, auto(), partitioner.listing(auto()), PartitionQuery(order_by=[Order("n")]))
    assert [r["n"] for r in found.rows] == [0, 1, 2]
    kept = status(partitioner, auto())
    assert kept.ready and kept.layout_reason == "time series: 'logs' is a time-series collection already"


def test_auto_stays_with_day_collections_that_exist(partitioner: MongoPartitioner, db: Database[Doc]) -> None:
    db.create_collection(day(0))  # made when the layout was a collection per day, on this server or another
    planned = make_plan(partitioner, auto(), NOW)
    assert planned.inventory.layout == "collections"
    assert planned.inventory.layout_reason == (
        f"one collection per day: 1 of them exist already ({day(0)}), and a time series would not see their documents"
    )
    assert probes(db) == []


def test_plan_names_the_layout_auto_chose_and_why(url: str, tmp_path: Path, on_nx: bool) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text(f'[sources.docs]\nurl = "{url}"\n')
    specs = tmp_path / "partitions.toml"
    specs.write_text(
        '[partitions.logs]\nsource = "docs"\ntarget = "logs"\nstrategy = "range"\nkey = "at"\n'
        'interval = "1 day"\nretention = "14 days"\noptions = { layout = "auto" }\n'
    )
    command = ["--config", str(config), "partition", "plan", "--spec", str(specs)]
    shown = CliRunner().invoke(cli, [*command, "--json"])
    assert shown.exit_code == 0, shown.output
    plan = msgspec.json.decode(shown.output)["plans"][0]
    wanted = ("collections", "one collection per day: ") if on_nx else ("timeseries", "time series: ")
    assert plan["layout"] == wanted[0] and plan["layout_reason"].startswith(wanted[1])
    text = CliRunner().invoke(cli, command)
    assert text.exit_code == 0 and f"  layout {plan['layout']}: {plan['layout_reason']}\n" in text.output


AUTO_CONVERT = """from dbplex.partition import PartitionSpec
from dbplex_mongo.partition_convert import timeseries_for

SPEC = PartitionSpec(source="mongo", target="logs", strategy="range", key="at", interval="1 day",
                     retention="14 days", options={"layout": "auto"})


def up(ctx):
    timeseries_for(ctx, SPEC)


def down(ctx):
    pass
"""


def test_a_migration_for_an_auto_spec_leaves_logs_with_its_day_collections(
    url: str, db: Database[Doc], tmp_path: Path
) -> None:
    db["logs"].insert_one({"at": NOW, "n": 1})
    db.create_collection(day(0))
    (tmp_path / "mongo").mkdir()
    (tmp_path / "mongo" / "V0001__logs_timeseries.py").write_text(AUTO_CONVERT)
    notes: list[str] = []
    with (
        dbplex.open({"sources": {"mongo": {"url": url}}}) as hub,
        Migrations(hub, tmp_path, notify=lambda event: notes.append(event.message)) as migrations,
    ):
        report = migrations.up()
    assert report.error is None, report.error
    assert any(
        f"logs: layout auto keeps one collection per day: 1 of them exist already ({day(0)})" in n for n in notes
    )
    assert types(db)["logs"] == "collection" and db["logs"].count_documents({}) == 1 and probes(db) == []
