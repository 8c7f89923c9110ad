"""Partition games by month of kick-off and audit_logs by day, keeping every row.

PostgreSQL cannot alter a table into a partitioned one, so each is rebuilt in this migration's
transaction by dbplex_pg.partition_convert: renamed, created again PARTITION BY RANGE, given
partitions for the rows it holds, the rows copied (ids kept), keys, indexes, foreign keys and
dependent views (upcoming_games, standings) created again. What PostgreSQL requires changes:

- games: PRIMARY KEY (id) becomes (id, starts_at); UNIQUE (venue_id, starts_at) already holds
  the key. No table references games(id) (metrics keep a game id in `labels`), so no foreign
  key is lost; one would have to reference (id, starts_at).
- audit_logs: PRIMARY KEY (id) becomes (id, at).

Partitions ahead of now, and the history `since` asks for, come from
`dbplex partition apply --spec examples/scheduling/partitions.toml` (run it before the seed).
"""

from dbplex.partition import PartitionSpec
from dbplex_pg.partition_convert import convert_to_partitioned, convert_to_plain

TABLES = (
    PartitionSpec(source="pg", target="games", strategy="range", key="starts_at", interval="1 month"),
    PartitionSpec(source="pg", target="audit_logs", strategy="range", key="at", interval="1 day"),
)


def up(ctx):
    for spec in TABLES:
        for note in convert_to_partitioned(ctx.conn, spec):
            ctx.note(note)


def down(ctx):
    for spec in TABLES:
        for note in convert_to_plain(ctx.conn, spec.target, primary_key=["id"]):
            ctx.note(note)
