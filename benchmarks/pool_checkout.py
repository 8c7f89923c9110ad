"""Client CPU time of one pool checkout and return, per source, with no I/O inside.

What every operation pays for the pool alone: ``with hub.pool(source).connection(): pass`` in a
loop on a pool of one connection, measured in process CPU time (so other load on the machine
barely moves it), best and median of several rounds. The command is in docs/benchmarks.md:

    python benchmarks/pool_checkout.py --config dbplex.toml [--sources pg redis] [--count 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import msgspec

import dbplex
from dbplex.config import Config, load


def single_connection(config: Config) -> Config:
    """``config`` with every source's pool held at exactly one connection."""
    sources = {
        name: msgspec.structs.replace(source, pool=msgspec.structs.replace(source.pool, min_size=1, max_size=1))
        for name, source in config.sources.items()
    }
    return msgspec.structs.replace(config, sources=sources)


def checkout_us(pool: dbplex.Pool, count: int) -> float:
    """Microseconds of client CPU per checkout and return, over ``count`` of them."""
    started = time.process_time()
    for _ in range(count):
        with pool.connection():
            pass
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--sources", nargs="*", help="sources to measure (default: every source)")
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    config = single_connection(load(args.config))
    with dbplex.open(config) as hub:
        for name in args.sources or list(config.sources):
            pool = hub.pool(name)
            checkout_us(pool, 1000)  # warm: the connection is open, the code paths are hot
            rounds = [checkout_us(pool, args.count) for _ in range(args.rounds)]
            print(
                f"{name:>12}  best {min(rounds):6.2f} µs  median {statistics.median(rounds):6.2f} µs  "
                f"({args.rounds} × {args.count:,} checkouts, process CPU time, pool of 1)"
            )


if __name__ == "__main__":
    main()
