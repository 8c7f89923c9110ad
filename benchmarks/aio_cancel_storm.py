"""A cancellation storm on the asyncio pool: many tasks cancelled at random points of their ops.

Each of ``--tasks`` tasks runs a Put then a Get on one source of an async hub; while they run,
batches of them are cancelled after random short sleeps, so cancellations land while tasks wait
for a connection, while one is being opened and in the middle of a query. Afterwards the script
checks what the asyncio issue asks for — ``pool_stats()`` shows no connection in use or waited
for, and the server's own count of the pool's sessions equals the pool's size — and prints the
figures. PostgreSQL and Redis (their servers list sessions by name); the command is in
docs/benchmarks.md:

    python benchmarks/aio_cancel_storm.py --url postgresql://postgres@127.0.0.1:5432/test [--tasks 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable

import dbplex
from dbplex import Get, Put
from dbplex.secrets import scrub


def session_counter(url: str, tag: str) -> Callable[[], int]:
    """The server's count of sessions named ``tag`` (PostgreSQL's application_name, Redis's client name)."""
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        return lambda: sum(1 for c in client.client_list() if c.get("name") == tag)
    import psycopg

    def count() -> int:
        with psycopg.connect(url, autocommit=True) as admin:
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [tag]).fetchone()
        return int(row[0]) if row else 0

    return count


async def storm(url: str, tasks: int, max_size: int, seed: int) -> dict[str, object]:
    tag = f"storm_{uuid.uuid4().hex[:8]}"
    tagged = (
        f"{url}{'&' if '?' in url else '?'}{'client_name' if url.startswith('redis') else 'application_name'}={tag}"
    )
    count = session_counter(url, tag)
    chance = random.Random(seed)
    table = f"storm_{tag}"
    config = {"sources": {"s": {"url": tagged, "pool": {"min_size": 2, "max_size": max_size, "timeout": 60}}}}
    async with dbplex.open_async(config) as hub:

        async def work(i: int) -> None:
            await hub.execute("s", Put(table, f"k{i % 50}", {"i": i}))
            await hub.execute("s", Get(table, f"k{i % 50}"))

        started = time.perf_counter()
        running = [asyncio.create_task(work(i)) for i in range(tasks)]
        pending = list(running)
        while pending:
            await asyncio.sleep(chance.random() / 1000)
            for task in chance.sample(pending, min(len(pending), chance.randint(1, 40))):
                task.cancel()
            pending = [t for t in pending if not t.done() and chance.random() < 0.97]
        outcomes = await asyncio.gather(*running, return_exceptions=True)
        elapsed = time.perf_counter() - started
        failures = [repr(o) for o in outcomes if isinstance(o, Exception)]
        stats = hub.pool_stats()["s"]
        settle_started = time.monotonic()
        server = await asyncio.to_thread(count)
        while server != hub.pool_stats()["s"].size and time.monotonic() - settle_started < 10:
            await asyncio.sleep(0.05)
            server = await asyncio.to_thread(count)
        settle = time.monotonic() - settle_started
        after = hub.pool_stats()["s"]
        figures = {
            "url": scrub(url),
            "tasks": tasks,
            "cancelled": sum(t.cancelled() for t in running),
            "completed": sum(not t.cancelled() and t.exception() is None for t in running),
            "failed": len(failures),
            "seconds": round(elapsed, 3),
            "used_after": stats.used,
            "pending_after": stats.pending,
            "pool_size": after.size,
            "server_sessions": server,
            "settle_seconds": round(settle, 3),
            "lost": after.lost,
            "created": after.created,
        }
        async with hub.connection("s") as conn:  # leave no table behind
            if url.startswith("redis"):
                keys = [key async for key in conn.scan_iter(match=f"*{table}*")]
                if keys:
                    await conn.delete(*keys)
            else:
                await conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    figures["ok"] = (
        not failures and stats.used == 0 and stats.pending == 0 and figures["server_sessions"] == figures["pool_size"]
    )
    if failures:
        figures["first_failures"] = failures[:3]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, action="append", help="a PostgreSQL or Redis URL (repeatable)")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--max-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    for url in args.url:
        print(json.dumps(asyncio.run(storm(url, args.tasks, args.max_size, args.seed))))


if __name__ == "__main__":
    main()
