"""PostgreSQL partition DDL as rendered, without a server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dbplex.partition import Condition, Order, Partition, PartitionQuery, PartitionSpec
from dbplex_pg import partition_catalog as catalog
from dbplex_pg import partition_sql as ddl
from dbplex_pg.partition import PgPartitioner

NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEC = datetime(2026, 12, 1, tzinfo=timezone.utc)
MONTH = Partition(target="games", kind="range", label="2026-11", lower=NOV, upper=DEC)


def sql(statement: ddl.Statement) -> str:
    return statement.as_string(None)


def test_creates_each_kind_of_partition_idempotently() -> None:
    assert sql(ddl.create("games", MONTH)) == (
        'CREATE TABLE IF NOT EXISTS "games_p2026_11" PARTITION OF "games" '
        "FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')"
    )
    listed = Partition(target="t", kind="list", label="eu", values=("de", "it's"))
    assert sql(ddl.create("t", listed)).endswith("\"t_eu\" PARTITION OF \"t\" FOR VALUES IN ('de', 'it''s')")
    hashed = Partition(target="t", kind="hash", label="h3", modulus=8, remainder=3)
    assert sql(ddl.create("t", hashed)).endswith("FOR VALUES WITH (MODULUS 8, REMAINDER 3)")
    assert sql(ddl.create("t", Partition(target="t", kind="default", label="default"))).endswith(
        '"t_default" PARTITION OF "t" DEFAULT'
    )
    numeric = Partition(target="t", kind="range", label="-10", lower=-10, upper=None)
    assert sql(ddl.create("t", numeric)).endswith('"t_pm10" PARTITION OF "t" FOR VALUES FROM (-10) TO (MAXVALUE)')


def test_retirement_detaches_concurrently_and_finalizes() -> None:
    assert sql(ddl.detach("games", "games_p2026_11", concurrently=True)) == (
        'ALTER TABLE "games" DETACH PARTITION "games_p2026_11" CONCURRENTLY'
    )
    assert sql(ddl.detach("games", "x", concurrently=False)) == 'ALTER TABLE "games" DETACH PARTITION "x"'
    assert sql(ddl.finalize("games", "x")) == 'ALTER TABLE "games" DETACH PARTITION "x" FINALIZE'
    assert [sql(s) for s in ddl.archive("x", "old")] == [
        'CREATE SCHEMA IF NOT EXISTS "old"',
        'ALTER TABLE "x" SET SCHEMA "old"',
    ]
    assert ddl.text(ddl.Step([ddl.drop("x")])) == ["BEGIN;", 'DROP TABLE IF EXISTS "x";', "COMMIT;"]
    assert ddl.text(ddl.Step([ddl.drop("x")], transaction=False)) == ['DROP TABLE IF EXISTS "x";']


def test_moving_rows_out_of_the_default_partition_happens_in_order() -> None:
    statements = [sql(s) for s in ddl.move_out_of_default("games", "games_default", MONTH, "starts_at", ["id", "x"])]
    assert statements[0] == 'LOCK TABLE "games_default" IN ACCESS EXCLUSIVE MODE'
    assert statements[2] == (
        'WITH gone AS (DELETE FROM "games_default" WHERE "starts_at" >= \'2026-11-01 00:00:00+00\' AND '
        '"starts_at" < \'2026-12-01 00:00:00+00\' RETURNING "id", "x") '
        'INSERT INTO "dbplex_moved" ("id", "x") SELECT "id", "x" FROM gone'
    )
    assert statements[3].startswith('CREATE TABLE IF NOT EXISTS "games_p2026_11" PARTITION OF "games"')
    assert statements[4] == (
        'INSERT INTO "games" ("id", "x") OVERRIDING SYSTEM VALUE SELECT "id", "x" FROM "dbplex_moved"'
    )


def test_the_fence_refuses_far_future_keys_without_a_scan() -> None:
    assert sql(ddl.fence("t_default", "at", DEC)) == (
        'ALTER TABLE "t_default" DROP CONSTRAINT IF EXISTS "dbplex_fence", '
        'ADD CONSTRAINT "dbplex_fence" CHECK ("at" < \'2026-12-01 00:00:00+00\') NOT VALID'
    )


def test_a_parent_index_is_built_on_a_partition_concurrently_then_attached() -> None:
    definition = "CREATE UNIQUE INDEX games_v_idx ON ONLY public.games USING btree (venue_id, starts_at) WHERE x"
    assert sql(ddl.child_index(definition, "games_p2026_11", "games_p2026_11_games_v_idx")) == (
        'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "games_p2026_11_games_v_idx" ON "games_p2026_11" '
        "USING btree (venue_id, starts_at) WHERE x"
    )
    assert sql(ddl.attach_index("games_v_idx", "c")) == 'ALTER INDEX "games_v_idx" ATTACH PARTITION "c"'


def test_queries_quote_names_and_pass_values_as_parameters() -> None:
    query = PartitionQuery(
        where=[Condition("at", ">=", NOV), Condition("kind", "in", ["a", "b"]), Condition('x"y', "!=", 1)],
        order_by=[Order("at", "desc")],
        limit=5,
        fields=["id", "at"],
    )
    statement, params = ddl.select("t_p2026_11", query)
    assert sql(statement) == (
        'SELECT "id", "at" FROM "t_p2026_11" WHERE "at" >= %s AND "kind" = ANY(%s) AND "x""y" <> %s '
        'ORDER BY "at" DESC LIMIT 5'
    )
    assert params == [NOV, ["a", "b"], 1]
    explained, _ = ddl.select("t", PartitionQuery(), explain=True)
    assert sql(explained) == 'EXPLAIN (COSTS OFF) SELECT * FROM "t"'


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')",
            Partition(target="games", kind="range", label="2026-11", lower=NOV, upper=DEC),
        ),
        (
            "FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')",
            Partition(target="games", kind="range", label="2026-11", lower=NOV, upper=DEC),
        ),
        (
            "FOR VALUES FROM (MINVALUE) TO ('2026-11-01 00:00:00')",
            Partition(target="games", kind="range", label="legacy", lower=None, upper=NOV),
        ),
        ("DEFAULT", Partition(target="games", kind="default", label="default")),
    ],
)
def test_bounds_are_read_back_from_the_catalog_text(expression: str, expected: Partition) -> None:
    spec = PartitionSpec(source="pg", target="games", strategy="range", key="starts_at", interval="1 month")
    table = "games_legacy" if expected.label == "legacy" else expected.name
    assert catalog.describe(spec, table, expression) == expected


def test_list_and_hash_bounds_are_read_back() -> None:
    spec = PartitionSpec(source="pg", target="t", strategy="list", key="region", lists={"eu": ["de", "it's"]})
    found = catalog.describe(spec, "t_eu", "FOR VALUES IN ('it''s', 'de')")
    assert found.label == "eu" and found.values == ("it's", "de")
    hashed = PartitionSpec(source="pg", target="t", strategy="hash", key="id", modulus=4)
    assert catalog.describe(hashed, "t_h2", "FOR VALUES WITH (modulus 4, remainder 2)").remainder == 2


def test_validation_names_what_postgresql_cannot_do() -> None:
    spec = PartitionSpec(
        source="pg",
        target="games",
        strategy="range",
        key="starts_at",
        interval="1 month",
        unique=[["id"], ["venue_id", "starts_at"]],
        options={"lock_timeout": "soon", "fillfactor": 1},
    )
    problems = PgPartitioner.validate(None, spec)  # type: ignore[arg-type]  # validate does no I/O
    assert any("unique key (id) must include the partition key starts_at" in p for p in problems)
    assert not any("venue_id" in p for p in problems)
    assert any("options.lock_timeout" in p for p in problems) and any("options.fillfactor" in p for p in problems)
    long = PartitionSpec(source="pg", target="t" * 50, strategy="range", key="at", interval="1 hour")
    assert any("too long" in p for p in PgPartitioner.validate(None, long))  # type: ignore[arg-type]


def test_text_columns_are_ordered_by_code_point_as_the_core_merges() -> None:
    query = PartitionQuery(order_by=[Order("name"), Order("mood", "desc"), Order("id")], limit=5)
    statement, _ = ddl.select("t_p2026_11", query, text_order={"name": "collate", "mood": "cast"})
    assert statement.as_string(None) == (
        'SELECT * FROM "t_p2026_11" ORDER BY "name" COLLATE "C" ASC, ("mood"::text) COLLATE "C" DESC, "id" ASC LIMIT 5'
    )


def test_a_detached_table_is_attached_back_with_the_partitions_bound() -> None:
    part = Partition(target="t", kind="list", label="eu", values=("de", "fr"))
    assert (
        ddl.attach("t", part).as_string(None)
        == "ALTER TABLE \"t\" ATTACH PARTITION \"t_eu\" FOR VALUES IN ('de', 'fr')"
    )
