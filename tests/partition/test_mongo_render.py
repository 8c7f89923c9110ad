"""MongoDB partitioning without a server: validation, command documents, filters, partition names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from bson import MaxKey

from dbplex.partition import Condition, Order, Partition, PartitionQuery, PartitionSpec
from dbplex.partition.layout import fixed_partitions, layout, number_partition, time_partition
from dbplex.partition.naming import from_label, from_name
from dbplex_mongo import partition_render as render
from dbplex_mongo.partition_layout import LayoutChoice, TimeSeriesSupport, choose, per_period
from dbplex_mongo.partition_options import options_of, problems

NOW = datetime(2026, 11, 25, 13, 30, tzinfo=timezone.utc)


def spec(**fields: Any) -> PartitionSpec:
    base: dict[str, Any] = {"source": "docs", "target": "logs", "strategy": "range", "key": "at", "interval": "1 day"}
    return PartitionSpec(**{**base, **fields})


def test_a_hashed_shard_key_cannot_be_unique() -> None:
    found = problems(spec(strategy="hash", interval=None, key="uid", modulus=8, unique=[["uid"], ["email"]]))
    assert found == [
        "a hashed shard key cannot be unique: unique ['uid'] contains the hash key 'uid' (MongoDB enforces "
        'uniqueness only on ranged shard keys: use strategy = "range", or drop the unique key)'
    ]
    assert problems(spec(strategy="hash", interval=None, key="uid", modulus=8, unique=[["email"]])) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"options": {"layout": "timeseries"}, "unique": [["at"]]}, "time-series collections cannot have unique"),
        ({"options": {"layout": "timeseries", "meta_field": "at"}}, "meta_field 'at' must differ"),
        ({"interval": None, "step": 10, "options": {"layout": "timeseries"}}, 'layout = "timeseries" needs time'),
        (
            {
                "options": {"layout": "timeseries"},
                "retention": "3 days",
                "retention_mode": "archive",
                "archive": "old_",
            },
            'retention_mode = "archive" renames whole collections',
        ),
        ({"retention": "3 days", "retention_mode": "detach"}, "MongoDB has no detach"),
        ({"options": {"granularity": "hours"}}, 'apply to layout = "timeseries" or "auto" only'),
        ({"options": {"layout": "collection", "template": "t"}}, 'template applies to layout = "collections" or'),
        # auto may become a time series: what a time series cannot do is refused on every server
        ({"options": {"layout": "auto"}, "unique": [["id", "at"]]}, 'layout = "auto" may pick a time series: time-'),
        ({"options": {"layout": "auto", "meta_field": "at"}}, "may pick a time series: meta_field 'at' must differ"),
        ({"interval": None, "step": 10, "options": {"layout": "auto"}}, 'layout = "auto" picks a time series or a'),
        (
            {"options": {"layout": "auto"}, "retention": "3 days", "retention_mode": "archive", "archive": "old_"},
            "it needs layout = \"collections\", not 'auto'",
        ),
        ({"options": {"layout": "auto"}, "default": True}, "a default partition is a collection of its own"),
        ({"options": {"layout": "sideways"}}, "options: Invalid enum value 'sideways' - at `$.layout`"),
        ({"options": {"colour": "red"}}, "options: Object contains unknown field `colour`"),
        (
            {"options": {"layout": "collection", "zones": {"2026-11-25": "eu"}}, "colocate": "team"},
            "cannot be used with colocate",
        ),
        (
            {"strategy": "hash", "interval": None, "modulus": 4, "options": {"layout": "collections"}},
            "hash partitioning on MongoDB is a hashed shard key on one collection",
        ),
    ],
)
def test_what_mongodb_cannot_do_is_named(fields: dict[str, Any], message: str) -> None:
    found = problems(spec(**fields))
    assert any(message in p for p in found), found


def test_layouts_default_to_collections_and_hash_to_one_collection() -> None:
    assert options_of(spec()).layout_for(spec()) == "collections"
    hashed = spec(strategy="hash", interval=None, modulus=4)
    assert options_of(hashed).layout_for(hashed) == "collection"
    assert options_of(hashed).shards(hashed) and not options_of(spec()).shards(spec())


def test_auto_takes_the_options_of_both_layouts_it_may_pick() -> None:
    auto = spec(retention="14 days", options={"layout": "auto", "meta_field": "level", "template": "logs_template"})
    assert problems(auto) == []


def _ask(answer: TimeSeriesSupport | None) -> Any:
    """The server's answer to the probe; None: the choice must not need one."""

    def support() -> TimeSeriesSupport:
        assert answer is not None, "the database had decided already: no probe expected"
        return answer

    return support


def test_auto_follows_the_server_when_the_database_has_not_decided() -> None:
    auto = spec(options={"layout": "auto"})
    options = options_of(auto)
    regular = {"logs": {"name": "logs", "type": "collection"}}  # a regular target decides nothing
    yes = TimeSeriesSupport(True, "MongoDB 7.0.4 makes time-series collections")
    no = TimeSeriesSupport(False, "MongoDB 4.4.29 makes no time-series collections (MongoDB 5.0+ does)")
    assert choose(auto, options, regular, _ask(yes)) == LayoutChoice(
        "timeseries", "time series: MongoDB 7.0.4 makes time-series collections"
    )
    assert choose(auto, options, {}, _ask(no)) == LayoutChoice(
        "collections", "one collection per day: MongoDB 4.4.29 makes no time-series collections (MongoDB 5.0+ does)"
    )


def test_auto_stays_with_what_the_database_holds() -> None:
    auto = spec(options={"layout": "auto"})
    options = options_of(auto)
    series = {"logs": {"name": "logs", "type": "timeseries"}}
    assert choose(auto, options, series, _ask(None)).name == "timeseries"
    days = {n: {"name": n, "type": "collection"} for n in ("logs", "logs_p2026_11_24", "logs_p2026_11_25", "logs_x")}
    found = choose(auto, options, days, _ask(None))
    assert found.name == "collections"
    assert found.reason.startswith(
        "one collection per day: 2 of them exist already (logs_p2026_11_24 ... logs_p2026_11_25)"
    )


def test_a_named_layout_is_never_probed_and_says_where_it_came_from() -> None:
    named = spec(options={"layout": "timeseries"})
    assert choose(named, options_of(named), {}, _ask(None)) == LayoutChoice(
        "timeseries", 'the spec says layout = "timeseries"'
    )
    hashed = spec(strategy="hash", interval=None, modulus=4)
    assert (
        choose(hashed, options_of(hashed), {}, _ask(None)).reason == "no layout given: the default for hash partitions"
    )
    assert per_period(spec(interval="3 months")) == "one collection per 3 months"


def test_time_series_create_carries_retention_as_expire_after_seconds() -> None:
    ts = spec(retention="30 days", options={"layout": "timeseries", "meta_field": "level", "granularity": "minutes"})
    command = render.timeseries_create(ts, options_of(ts))
    assert command.document == {
        "create": "logs",
        "timeseries": {"timeField": "at", "metaField": "level", "granularity": "minutes"},
        "expireAfterSeconds": 30 * 86400,
    }
    assert command.text() == (
        'db.runCommand({"create": "logs", "timeseries": {"timeField": "at", "metaField": "level", '
        '"granularity": "minutes"}, "expireAfterSeconds": 2592000})'
    )
    # a calendar month never expires early: it counts 31 days
    monthly = spec(interval="1 month", retention="2 months", options={"layout": "timeseries"})
    assert render.timeseries_create(monthly, options_of(monthly)).document["expireAfterSeconds"] == 62 * 86400
    assert render.timeseries_retention(spec(options={"layout": "timeseries"})).document == {
        "collMod": "logs",
        "expireAfterSeconds": "off",
    }


def test_shard_commands_use_colocate_as_prefix_and_say_when_they_would_run() -> None:
    hashed = spec(strategy="hash", interval=None, key="uid", modulus=4, colocate="team_id")
    command = render.shard_collection(hashed, options_of(hashed), "app", "logs", mongos=False)
    assert command.document == {"shardCollection": "app.logs", "key": {"team_id": 1, "uid": "hashed"}}
    assert command.admin and command.text().startswith("// would run on a sharded cluster")
    assert render.shard_collection(hashed, options_of(hashed), "app", "logs", mongos=True).skip is None
    ts = spec(options={"layout": "timeseries", "meta_field": "source", "shard": True})
    shard = render.shard_collection(ts, options_of(ts), "app", "logs", mongos=True).document
    assert shard["key"] == {"source": 1, "at": 1} and shard["timeseries"] == {"timeField": "at", "metaField": "source"}


def test_zone_ranges_per_partition() -> None:
    numbers = spec(interval=None, step=100, options={"layout": "collection", "zones": {"0": "old", "100": "new"}})
    parts = [number_partition(numbers, 0), number_partition(numbers, 100), number_partition(numbers, 200)]
    zones = render.zone_ranges(numbers, options_of(numbers), "app", parts, mongos=True)
    assert [c.document for c in zones] == [
        {"updateZoneKeyRange": "app.logs", "min": {"at": 0}, "max": {"at": 100}, "zone": "old"},
        {"updateZoneKeyRange": "app.logs", "min": {"at": 100}, "max": {"at": 200}, "zone": "new"},
    ]
    listed = spec(
        strategy="list",
        interval=None,
        key="region",
        lists={"eu": ["de", 7]},
        options={"layout": "collection", "zones": {"eu": "EU"}},
    )
    ranges = render.zone_ranges(listed, options_of(listed), "app", fixed_partitions(listed), mongos=False)
    assert [(c.document["min"], c.document["max"]) for c in ranges] == [
        ({"region": "de"}, {"region": "de\0"}),
        ({"region": 7}, {"region": 8}),
    ]
    assert all(c.skip for c in ranges)
    assert render._zone_bounds(Partition("t", "range", "x", lower=5)) == [(5, MaxKey())]


def test_template_copies_validator_and_indexes_but_not_the_id_index() -> None:
    template = {"validator": {"$jsonSchema": {"required": ["at"]}}, "validationLevel": "strict", "capped": False}
    assert render.create_collection("logs_p2026_11", template).document == {
        "create": "logs_p2026_11",
        "validator": {"$jsonSchema": {"required": ["at"]}},
        "validationLevel": "strict",
    }
    indexes = [{"v": 2, "key": {"_id": 1}, "name": "_id_"}, {"v": 2, "key": {"at": 1}, "name": "at", "ns": "x.y"}]
    command = render.create_indexes("logs_p2026_11", indexes)
    assert command is not None and command.document == {
        "createIndexes": "logs_p2026_11",
        "indexes": [{"key": {"at": 1}, "name": "at"}],
    }
    assert render.create_indexes("x", indexes[:1]) is None


def test_queries_become_find_filters() -> None:
    query = PartitionQuery(
        where=[
            Condition("at", ">=", NOW),
            Condition("at", "<", NOW + timedelta(days=3)),
            Condition("level", "in", ["a", "b"]),
        ],
        order_by=[Order("at", "desc"), Order("_id")],
        fields=["at"],
    )
    part = time_partition(spec(), NOW.replace(hour=0, minute=0))
    assert render.query_filter(query, render.bounds(spec(), part)) == {
        "at": {"$gte": NOW, "$lt": part.upper},
        "level": {"$in": ["a", "b"]},
    }
    twice = PartitionQuery(where=[Condition("n", "==", 1), Condition("n", "==", 2), Condition("n", "<", 5)])
    assert render.query_filter(twice) == {"n": {"$eq": 1, "$lt": 5}, "$and": [{"n": {"$eq": 2}}]}
    assert render.query_filter(PartitionQuery()) == {}
    assert render.query_filter(PartitionQuery(where=[Condition("x", "!=", None)])) == {"x": {"$ne": None}}
    assert render.sort_of(query.order_by) == [("at", -1), ("_id", 1)]
    assert render.projection(query) == {"at": 1, "_id": 0}  # order fields are read too
    assert render.projection(PartitionQuery(fields=["n"], order_by=[Order("at")])) == {"n": 1, "at": 1, "_id": 0}
    assert render.projection(PartitionQuery()) is None


def test_retire_renders_drop_rename_or_delete() -> None:
    part = time_partition(spec(), NOW.replace(hour=0, minute=0))
    assert render.drop(part.name).text() == 'db.runCommand({"drop": "logs_p2026_11_25"})'
    assert render.archive("app", part.name, "old_").document == {
        "renameCollection": "app.logs_p2026_11_25",
        "to": "app.old_logs_p2026_11_25",
    }
    assert render.delete_range(spec(), part).document == {
        "delete": "logs",
        "deletes": [{"q": {"at": {"$gte": part.lower, "$lt": part.upper}}, "limit": 0}],
    }


@pytest.mark.parametrize(
    "interval", ["1 hour", "6 hours", "1 day", "1 week", "1 month", "3 months", "1 year", "15 minutes"]
)
def test_collection_names_read_back_into_partitions(interval: str) -> None:
    timed = spec(interval=interval, retention=None)
    for partition in layout(timed, NOW).wanted:
        assert from_name(timed, partition.name) == partition
        assert from_label(timed, partition.label) == partition
    assert from_name(timed, "logs_p2026_11_25_backup") is None
    assert from_name(timed, "other_p2026_11_25") is None


def test_numeric_list_and_hash_names_read_back() -> None:
    numbers = spec(interval=None, step=1000, start=-2000)
    for lower in (-2000, -1000, 0, 5000):
        partition = number_partition(numbers, lower)
        assert from_name(numbers, partition.name) == partition
    assert from_name(numbers, "logs_p500") is None  # not on a step boundary
    listed = spec(strategy="list", interval=None, lists={"eu": ["de"], "us": ["us"]}, default=True)
    assert [from_name(listed, p.name) for p in fixed_partitions(listed)] == fixed_partitions(listed)
    hashed = spec(strategy="hash", interval=None, modulus=4)
    assert from_label(hashed, "h3") == fixed_partitions(hashed)[3]
    assert from_label(hashed, "h4") is None
    # a misaligned day is not a partition of a weekly spec
    assert from_label(spec(interval="1 week"), "2026-11-25") is None
