"""What the PostgreSQL client-side operation deadline costs per op, and a Get with and without it.

    python benchmarks/pg_op_deadline.py --url postgresql://postgres@127.0.0.1:5432/postgres [--ops 20000] [--rounds 5]

Prints, best of ``--rounds``, the process CPU time per op of (1) registering and clearing an
op's deadline alone (``dbplex_pg.deadline.begin`` + ``end`` on a pooled connection), and (2) a
``Get`` of one small record through the hub, for scale; then the same under asyncio: registering and
clearing an op's deadline (``dbplex_pg.deadline.begin_on_loop`` + ``end``) and an awaited ``Get``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import dbplex
from dbplex import Delete, Get, Put
from dbplex_pg import deadline


def best_cpu_us(action: Callable[[], None], ops: int, rounds: int) -> float:
    """The lowest process CPU time per call over ``rounds`` rounds of ``ops`` calls, in µs."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(ops):
            action()
        best = min(best, (time.process_time() - started) / ops * 1e6)
    return best


async def best_cpu_us_async(action: Callable[[], Awaitable[None]], ops: int, rounds: int) -> float:
    """:func:`best_cpu_us` of an awaited call, on the running loop."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(ops):
            await action()
        best = min(best, (time.process_time() - started) / ops * 1e6)
    return best


async def asyncio_figures(url: str, ops: int, rounds: int) -> None:
    async with dbplex.open_async({"sources": {"pg": {"url": url, "pool": {"min_size": 1, "max_size": 1}}}}) as hub:
        await hub.execute("pg", Put("bench_deadline", "k", {"v": "x" * 100}))
        async with hub.connection("pg") as conn:

            async def guarded() -> None:
                deadline.begin_on_loop(conn)
                deadline.end(conn)

            print(
                f"asyncio: deadline begin + end: {await best_cpu_us_async(guarded, ops * 10, rounds):.3f} µs CPU per op"
            )
        get = Get("bench_deadline", "k")

        async def one_get() -> None:
            await hub.execute("pg", get)

        print(f"asyncio: Get of one record: {await best_cpu_us_async(one_get, ops, rounds):.1f} µs CPU per op")
        await hub.execute("pg", Delete("bench_deadline", "k"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a PostgreSQL URL")
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with dbplex.open({"sources": {"pg": {"url": args.url, "pool": {"min_size": 1, "max_size": 1}}}}) as hub:
        hub.execute("pg", Put("bench_deadline", "k", {"v": "x" * 100}))
        with hub.connection("pg") as conn:

            def guarded() -> None:
                deadline.begin(conn)
                deadline.end(conn)

            print(f"deadline begin + end: {best_cpu_us(guarded, args.ops * 10, args.rounds):.3f} µs CPU per op")
        get = Get("bench_deadline", "k")
        print(
            f"Get of one record:    {best_cpu_us(lambda: hub.execute('pg', get), args.ops, args.rounds):.1f} µs CPU per op"
        )
        hub.execute("pg", Delete("bench_deadline", "k"))
    asyncio.run(asyncio_figures(args.url, args.ops, args.rounds))


if __name__ == "__main__":
    main()
