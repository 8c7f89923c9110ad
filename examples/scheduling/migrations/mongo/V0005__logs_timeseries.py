"""`logs` becomes the time-series collection that the `logs` spec of partitions.toml describes,
on a server that makes time-series collections (the spec's layout is "auto").

MongoDB cannot change a collection's type, so the documents move through `logs_regular` (see
dbplex_mongo.partition_convert); the validator goes (time series have none) and `expireAfterSeconds`
(the spec's retention) replaces the 30-day TTL index. The settings come from the spec itself, so
`dbplex partition apply` then finds `logs` as it wants it. Nothing changes on a server without
time-series collections (nx-27017, MongoDB before 5.0), where "auto" means one collection per
day, nor once those day collections exist: logs then stays a regular collection.
"""

import runpy
from pathlib import Path

from dbplex.config import load_partitions
from dbplex_mongo.partition_convert import timeseries_for, to_regular
from dbplex_mongo.schema import Index

HERE = Path(__file__).resolve()
SPECS = HERE.parents[2] / "partitions.toml"
LEVEL_TIME = Index("level_time", [("level", 1), ("at", -1)])


def up(ctx):
    timeseries_for(ctx, load_partitions(SPECS)["logs"], indexes=[LEVEL_TIME])


def down(ctx):
    # back to what V0001 and V0002 made: their validator and indexes
    schema = runpy.run_path(str(HERE.with_name("V0001__collections.py")))["SCHEMAS"]["logs"]
    ttl = Index("expire_after_30_days", [("at", 1)], expire_after_seconds=30 * 86400)
    to_regular(ctx, "logs", validator=schema, indexes=[ttl, LEVEL_TIME])
