"""What a mirror check costs against a full read of both sides: time, peak RSS and rows read.

    python benchmarks/check_mirror.py --config dbplex.toml --target redis --rows 10000,200000 [--differences 12] [--out FILE]

For each row count: a PostgreSQL table ``bench_mirror_<n>`` (id, name, score, at) and its copy on
the target source — a Redis key family ``bench_mirror_<n>:*`` of hashes, or a MongoDB collection
— with ``--differences`` planted (a third missing, a third changed, a third extra). Then, each
in a process of its own whose peak RSS the kernel reports (``wait4``):

- ``dbplex check --json`` on a ``mirror`` rule over the pair (bisection with MongoDB, lookup with
  Redis), whose report gives the rows read per side and the differences found;
- the baseline: one full read of both sides with the drivers alone (a server-side cursor in
  PostgreSQL; ``find()`` in MongoDB; ``SCAN`` and pipelined ``HGETALL`` in Redis), values
  converted to Python and dropped, batch by batch.

Sources are named ``pg`` and the target's backend name, as ``dbplex sandbox up`` names them. The
tables and keys are removed afterwards.
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
from dbplex.config import load

BATCH = 5000


def plant(hub: dbplex.Hub, target: str, name: str, rows: int, differences: int) -> dict[str, list[int]]:
    """The table and its copy, with the differences planted; returns the planted keys."""
    step = max(1, rows // (differences + 1))
    planted = list(range(step, rows, step))[:differences]
    missing, changed, extra = planted[0::3], planted[1::3], [rows + 1 + i for i in range(len(planted[2::3]))]
    with hub.connection("pg") as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, name text, score integer, at timestamptz)")
        conn.execute(
            f"INSERT INTO {name} SELECT i, 'name ' || i, i %% 1000, timestamptz '2026-01-01' + i * interval '1 second' "
            "FROM generate_series(1, %s) i",
            (rows,),
        )
        conn.commit()
    skip, change = set(missing), set(changed)
    start = 1
    while start <= rows:
        ids = [i for i in range(start, min(start + BATCH, rows + 1)) if i not in skip]
        _copy(hub, target, name, [(i, f"name {i}" + ("!" if i in change else ""), i % 1000) for i in ids])
        start += BATCH
    _copy(hub, target, name, [(i, f"name {i}", i % 1000) for i in extra])
    return {"missing": missing, "different": changed, "extra": extra}


def _copy(hub: dbplex.Hub, target: str, name: str, rows: list[tuple[int, str, int]]) -> None:
    if target == "redis":
        with hub.connection("redis") as client:
            pipe = client.pipeline(transaction=False)
            for key, text, score in rows:
                pipe.hset(f"{name}:{key}", mapping={"name": text, "score": score})
            pipe.execute()
    else:
        with hub.connection("mongo") as db:
            db[name].create_index(
                "id"
            )  # a mirror's key is looked up and ranged over: index it, as an application would
            if rows:
                db[name].insert_many([{"id": key, "name": text, "score": score} for key, text, score in rows])


def remove(hub: dbplex.Hub, target: str, name: str) -> None:
    with hub.connection("pg") as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.commit()
    if target == "redis":
        with hub.connection("redis") as client:
            batch = []
            for key in client.scan_iter(match=f"{name}:*", count=5000):
                batch.append(key)
                if len(batch) == 5000:
                    client.delete(*batch)
                    batch = []
            if batch:
                client.delete(*batch)
    else:
        with hub.connection("mongo") as db:
            db[name].drop()


def full_read(config: str, target: str, name: str) -> None:
    """The baseline: every row of both sides through the drivers, a batch at a time."""
    with dbplex.open(config) as hub:
        rows = 0
        with hub.connection("pg") as conn, conn.transaction(), conn.cursor(name="bench_full_read") as cursor:
            cursor.execute(f"SELECT id, name, score FROM {name} ORDER BY id")
            while batch := cursor.fetchmany(BATCH):
                rows += len(batch)
        if target == "redis":
            with hub.connection("redis") as client:
                cursor_id = 0
                while True:
                    cursor_id, keys = client.scan(cursor_id, match=f"{name}:*".encode(), count=BATCH)
                    pipe = client.pipeline(transaction=False)
                    for key in keys:
                        pipe.hgetall(key)
                    rows += len(pipe.execute())
                    if cursor_id == 0:
                        break
        else:
            with hub.connection("mongo") as db:
                rows += sum(1 for _ in db[name].find({}, {"id": 1, "name": 1, "score": 1}).batch_size(BATCH))
    print(rows)


#: runs argv[1:] and prints its peak RSS (KiB) and exit code on stderr. A bare interpreter starts
#: the measured process because Linux carries a forked child's peak RSS over from its parent at
#: fork(), which for this script (drivers imported, tables planted) would hide the child's own.
LAUNCHER = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, u = os.wait4(p.pid, 0); "
    "print(u.ru_maxrss, os.waitstatus_to_exitcode(s), file=sys.stderr)"
)


def measure(command: list[str], codes: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """(peak RSS MiB, wall seconds, stdout) of ``command`` in a process of its own, which must
    exit with one of ``codes``."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True)
    wall = time.monotonic() - started
    peak, code = done.stderr.split()[-2:]
    if int(code) not in codes:
        raise SystemExit(f"{' '.join(command)} exited {code}")
    return int(peak) / 1024, wall, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="configuration file with sources pg and the target")
    parser.add_argument("--target", choices=("redis", "mongo"), required=True)
    parser.add_argument("--rows", default="10000,200000", help="comma-separated row counts")
    parser.add_argument("--differences", type=int, default=12)
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--full-read", metavar="NAME", help=argparse.SUPPRESS)  # the baseline's child process
    args = parser.parse_args()
    if args.full_read:
        full_read(args.config, args.target, args.full_read)
        return

    sources = {name: source for name, source in load(args.config).sources.items() if name in ("pg", args.target)}
    results: list[dict[str, Any]] = []
    with dbplex.open(args.config) as hub:
        for rows in (int(n) for n in args.rows.split(",")):
            name = f"bench_mirror_{rows}"
            try:
                planted = plant(hub, args.target, name, rows, args.differences)
                copy = f"redis.{name}:*" if args.target == "redis" else f"mongo.{name}"
                rule = {
                    "kind": "mirror",
                    "source": f"pg.{name}",
                    "target": copy,
                    "fields": {"name": "name", "score": "score"},
                }
                if args.target == "mongo":
                    rule["target_key"] = "id"
                with tempfile.TemporaryDirectory() as folder:
                    config = Path(folder) / "dbplex.toml"
                    config.write_text(
                        _toml({"sources": {k: {"url": v.url} for k, v in sources.items()}, "checks": {"m": rule}})
                    )
                    rss, wall, text = measure(
                        [
                            sys.executable,
                            "-m",
                            "dbplex.cli.main",
                            "--config",
                            str(config),
                            "check",
                            "--json",
                            "--sample",
                            "100",
                        ],
                        (0, 1),  # 1: the planted differences fail the rule
                    )
                    base_rss, base_wall, _ = measure(
                        [
                            sys.executable,
                            __file__,
                            "--config",
                            str(config),
                            "--target",
                            args.target,
                            "--full-read",
                            name,
                        ]
                    )
                report = json.loads(text)["checks"][0]
                found = {k: sorted(int(x) for x in report[k]["sample"]) for k in ("missing", "different", "extra")}
                result = {
                    "rows": rows,
                    "target": args.target,
                    "method": report["method"],
                    "check_seconds": round(wall, 2),
                    "check_peak_rss_mib": round(rss, 1),
                    "full_read_seconds": round(base_wall, 2),
                    "full_read_peak_rss_mib": round(base_rss, 1),
                    "reads": report["reads"],
                    "found_exactly": found == {k: sorted(v) for k, v in planted.items()},
                }
                results.append(result)
                print(json.dumps(result), flush=True)
            finally:
                remove(hub, args.target, name)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


def _toml(config: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)

    return "\n".join(
        f"[{section}.{name}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in table.items())
        for section, tables in config.items()
        for name, table in tables.items()
    )


if __name__ == "__main__":
    main()
