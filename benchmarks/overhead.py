"""How much does dbplex add over the raw driver? ``execute(Get)`` against the same request by hand.

    python benchmarks/overhead.py [--config dbplex.toml] [--ops 20000] [--threads 1,8] [--rounds 5] [--out FILE]

For every configured source whose backend has a baseline below, the script loads ``--records``
records through dbplex, then reads random keys (fixed seed) through ``hub.execute(Get(...))``
and through the raw driver making the request a careful user would make by hand (a
psycopg_pool connection and a SELECT; pymongo ``find_one``; redis-py ``HGETALL``), with the
same pool size and the same key sequence. Rounds alternate dbplex and raw so drift on a shared
machine hits both; the median round is reported. Overhead = raw throughput / dbplex throughput - 1.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dbplex
from dbplex import Get, Put

TABLE = "overhead_bench"

Reader = Callable[[str], Any]


@contextmanager
def pg_baseline(source: dbplex.Source, threads: int) -> Iterator[Reader]:
    import psycopg_pool

    schema = source.options.schema
    pool = psycopg_pool.ConnectionPool(
        source.url, min_size=threads, max_size=threads, open=True, kwargs={"autocommit": True}
    )
    sql = f'SELECT data FROM "{schema}"."{TABLE}" WHERE key = %s'

    def get(key: str) -> Any:
        with pool.connection() as conn:
            return conn.execute(sql, (key,)).fetchone()

    try:
        yield get
    finally:
        pool.close()


@contextmanager
def mongo_baseline(source: dbplex.Source, threads: int) -> Iterator[Reader]:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        source.url, maxPoolSize=threads, minPoolSize=threads
    )
    collection = client.get_default_database("dbplex")[TABLE]

    def get(key: str) -> Any:
        return collection.find_one({"_id": key})

    try:
        yield get
    finally:
        client.close()


@contextmanager
def redis_baseline(source: dbplex.Source, threads: int) -> Iterator[Reader]:
    import redis

    pool = redis.BlockingConnectionPool.from_url(source.url, max_connections=threads)
    client = redis.Redis(connection_pool=pool)
    prefix = source.options.prefix

    def get(key: str) -> Any:
        return client.hgetall(f"{prefix}{TABLE}:r:{key}")

    try:
        yield get
    finally:
        client.close()
        pool.disconnect()


BASELINES: dict[str, Callable[[dbplex.Source, int], Any]] = {
    "pg": pg_baseline,
    "mongo": mongo_baseline,
    "redis": redis_baseline,
}


def run_threads(read: Reader, keys: list[str], threads: int) -> float:
    """Throughput (ops/s) of ``threads`` workers splitting ``keys`` between them."""
    chunks = [keys[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def work(chunk: list[str]) -> None:
        barrier.wait()
        for key in chunk:
            read(key)

    workers = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    return len(keys) / (time.perf_counter() - started)


def measure(hub: dbplex.Hub, name: str, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    source = hub.sources[name]
    rng = random.Random(42)
    keys = [f"user{rng.randrange(args.records):08d}" for _ in range(args.ops)]
    warmup = keys[: max(1, args.ops // 10)]

    def through_dbplex(key: str) -> Any:
        return hub.execute(name, Get(TABLE, key))

    dbplex_runs, raw_runs = [], []
    with BASELINES[source.backend](source, threads) as raw:
        run_threads(through_dbplex, warmup, threads)
        run_threads(raw, warmup, threads)
        for round_no in range(args.rounds):
            pair = [("dbplex", through_dbplex), ("raw", raw)]
            for label, read in pair if round_no % 2 == 0 else reversed(pair):
                (dbplex_runs if label == "dbplex" else raw_runs).append(run_threads(read, keys, threads))
    d, r = statistics.median(dbplex_runs), statistics.median(raw_runs)
    return {
        "source": name,
        "backend": source.backend,
        "threads": threads,
        "ops": args.ops,
        "rounds": args.rounds,
        "dbplex_ops_s": round(d),
        "raw_ops_s": round(r),
        "overhead_pct": round((r / d - 1) * 100, 2),
        "added_us_per_op": round((1 / d - 1 / r) * 1e6 * threads, 2),
        "dbplex_runs": [round(x) for x in dbplex_runs],
        "raw_runs": [round(x) for x in raw_runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="configuration file (default: $DBPLEX_CONFIG or ./dbplex.toml)")
    parser.add_argument("--ops", type=int, default=20_000, help="Gets per measured run")
    parser.add_argument("--records", type=int, default=1_000, help="records loaded first")
    parser.add_argument("--threads", default="1,8", help="comma-separated thread counts (pool size = threads)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--sources", help="comma-separated sources (default: all with a baseline)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    results = []
    with dbplex.open(args.config) as base:
        names = (
            args.sources.split(",") if args.sources else [n for n, s in base.sources.items() if s.backend in BASELINES]
        )
        config = base.config
    for threads in (int(t) for t in args.threads.split(",")):
        sources = {
            n: {**_source_fields(config.sources[n]), "pool": {"min_size": threads, "max_size": threads}} for n in names
        }
        with dbplex.open({"sources": sources}) as hub:
            for name in names:
                for i in range(args.records):
                    hub.execute(name, Put(TABLE, f"user{i:08d}", {f"field{f}": "x" * 100 for f in range(10)}))
                row = measure(hub, name, threads, args)
                results.append(row)
                print(
                    f"{row['source']:>8} {row['backend']:>6} threads={threads:<3} dbplex {row['dbplex_ops_s']:>7} ops/s"
                    f"  raw {row['raw_ops_s']:>7} ops/s  overhead {row['overhead_pct']:>6.2f}%  (+{row['added_us_per_op']} µs/op)",
                    flush=True,
                )
    if args.out:
        meta = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": _cpus(),
            "workload": "Get of 10x100-byte records",
        }
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


def _source_fields(source: dbplex.SourceConfig) -> dict[str, Any]:
    return {"url": source.url, "options": dict(source.options), "connect_timeout": source.connect_timeout}


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
