"""``dbplex sync`` rows/s against the target's own bulk load, in one run.

    python benchmarks/sync_throughput.py --config dbplex.toml --target redis --rows 100000 [--batch 1000] [--out FILE]

A PostgreSQL table ``bench_sync_<n>`` (id, name, score, at) of N rows is copied to the target
source (named as ``dbplex sandbox up`` names it: ``redis`` or ``mongo``) twice, each time into a
fresh place:

- ``dbplex sync pg.bench_sync_<n> TARGET.bench_sync_<n>`` in a process of its own (``--json``:
  its report gives the copy's seconds apart from the mirror check that follows);
- the ceiling: the same rows read with a PostgreSQL server-side cursor and written with the
  target's own bulk load, ``--batch`` rows at a time: pipelined ``HSET`` (no transaction) for
  Redis, ``insert_many`` for MongoDB.

Everything it creates is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dbplex
from dbplex.ops import Delete
from dbplex.sync.engine import CHECKPOINTS


def plant(hub: dbplex.Hub, name: str, rows: int) -> None:
    with hub.connection("pg") as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, name text, score integer, at timestamptz)")
        conn.execute(
            f"INSERT INTO {name} SELECT i, 'name ' || i, i %% 1000, timestamptz '2026-01-01' + i * interval '1 second' "
            "FROM generate_series(1, %s) i",
            (rows,),
        )
        conn.commit()


def clear(hub: dbplex.Hub, target: str, name: str) -> None:
    """The target's copies and the sync's checkpoint removed."""
    if target == "redis":
        with hub.connection("redis") as client:
            for pattern in (f"{name}:*", f"bulk_{name}:*"):
                keys = list(client.scan_iter(match=pattern, count=5000))
                for i in range(0, len(keys), 5000):
                    client.delete(*keys[i : i + 5000])
    else:
        with hub.connection("mongo") as db:
            db[name].drop()
            db[f"bulk_{name}"].drop()
    hub.execute(target, Delete(table=CHECKPOINTS, key=f"pg.{name}->{target}.{name}"))


def sync(config: str, target: str, name: str, batch: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as mapping:
        mapping.write('fields = ["name", "score", "at"]\n')
    command = [sys.executable, "-m", "dbplex.cli.main", "--config", config, "sync", f"pg.{name}", f"{target}.{name}"]
    command += ["--map", mapping.name, "--batch", str(batch), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    Path(mapping.name).unlink()
    if done.returncode != 0:
        raise SystemExit(f"dbplex sync exited {done.returncode}: {done.stdout[-500:]}{done.stderr[-500:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    report["process_seconds"] = round(elapsed, 3)
    return report


def bulk(hub: dbplex.Hub, target: str, name: str, batch: int) -> float:
    """Seconds for the ceiling: a server-side cursor over the table, each batch bulk-loaded."""
    started = time.perf_counter()
    with hub.connection("pg") as conn, conn.transaction(), conn.cursor(name="bench_sync") as cursor:
        cursor.itersize = batch
        cursor.execute(f"SELECT id, name, score, at FROM {name} ORDER BY id")
        while rows := cursor.fetchmany(batch):
            if target == "redis":
                with hub.connection("redis") as client:
                    pipe = client.pipeline(transaction=False)
                    for key, text, score, at in rows:
                        pipe.hset(f"bulk_{name}:{key}", mapping={"name": text, "score": score, "at": at.isoformat()})
                    pipe.execute()
            else:
                with hub.connection("mongo") as db:
                    db[f"bulk_{name}"].insert_many(
                        [{"_id": str(key), "name": text, "score": score, "at": at} for key, text, score, at in rows]
                    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--target", choices=["redis", "mongo"], required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--out")
    args = parser.parse_args()
    name = f"bench_sync_{args.rows}"
    with dbplex.open(args.config) as hub:
        plant(hub, name, args.rows)
        clear(hub, args.target, name)
        try:
            report = sync(args.config, args.target, name, args.batch)
            ceiling = bulk(hub, args.target, name, args.batch)
        finally:
            clear(hub, args.target, name)
            with hub.connection("pg") as conn:
                conn.execute(f"DROP TABLE IF EXISTS {name}")
                conn.commit()
    result = {
        "target": args.target,
        "rows": args.rows,
        "batch": args.batch,
        "sync_copy_seconds": report["copy_seconds"],
        "sync_rows_per_s": round(args.rows / report["copy_seconds"]),
        "sync_mirror_seconds": report["mirror_seconds"],
        "sync_process_seconds": report["process_seconds"],
        "mirror_ok": report["ok"],
        "bulk_seconds": round(ceiling, 3),
        "bulk_rows_per_s": round(args.rows / ceiling),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
