"""The uniform operations under asyncio, on every configured source that runs them.

    python examples/async_tour.py [--config dbplex.toml]

Writes a hundred records to each source from concurrent tasks, reads them back, cancels a batch
of reads halfway, and shows that the pools end with no connection in use. A source whose backend
has no asyncio executor is named and skipped. For an ASGI application, open the hub in its
lifespan (docs/asyncio.md).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

import dbplex
from dbplex import Delete, Get, Put


async def tour(hub: dbplex.AsyncHub, source: str) -> None:
    table = f"async_tour_{uuid.uuid4().hex[:8]}"
    keys = [f"k{i:03}" for i in range(100)]
    await asyncio.gather(*(hub.execute(source, Put(table, key, {"n": i})) for i, key in enumerate(keys)))
    found = await asyncio.gather(*(hub.execute(source, Get(table, key)) for key in keys))
    total = sum(result.one()["values"]["n"] for result in found)
    reads = [asyncio.create_task(hub.execute(source, Get(table, key))) for key in keys]
    await asyncio.sleep(0)
    for task in reads[::2]:
        task.cancel()
    done = await asyncio.gather(*reads, return_exceptions=True)
    cancelled = sum(isinstance(outcome, asyncio.CancelledError) for outcome in done)
    await asyncio.gather(*(hub.execute(source, Delete(table, key)) for key in keys))
    stats = hub.pool_stats()[source]
    print(
        f"{source} ({hub.backend(source).name}): wrote and read {len(keys)} records (sum {total}), "
        f"{cancelled} reads cancelled; pool: {stats.size} open, {stats.used} in use, at most {stats.max}"
    )


async def main(config: str | None) -> None:
    async with dbplex.open_async(config) as hub:
        for source in hub.sources:
            try:
                await tour(hub, source)
            except dbplex.UnsupportedError as exc:
                print(f"{source}: skipped: {exc}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="configuration file (default: $DBPLEX_CONFIG or ./dbplex.toml)")
    asyncio.run(main(parser.parse_args().config))
