"""Client CPU instructions per MongoDB point read: pymongo ``find_one`` against dbplex ``Get``.

Timings on a shared two-core machine move with other load more than with a change to the
plugin; instruction counts barely do. So each variant runs in a fresh Python process under
valgrind's callgrind, which counts the instructions of the whole client process (the server is
another process, not counted), once with ``--small`` and once with ``--large`` reads of one
10 x 100-byte record over one connection. The difference between the two, divided by the
difference in reads, is the cost of one warm read with start-up and set-up cancelled out.
pymongo's server monitor is slowed to one heartbeat a minute in every variant, so that the
background work of a run (which lasts far longer under valgrind) does not count as per-read cost.

    python benchmarks/mongo_instructions.py --url mongodb://127.0.0.1:27017/dbplex_bench

``--main-thread`` counts the main thread's instructions only (``--separate-threads=yes``): the
background threads' share then drops out, and the counts repeat more closely.

Variants: ``raw`` (``collection.find_one({"_id": key})`` on a ``MongoClient`` with one
connection), ``raw-options`` (the same with the timeouts and idle time dbplex-mongo sets on a
source's client by default: what those options cost in pymongo), ``raw-events`` (the same client with a ``ConnectionPoolListener`` that does nothing:
what pymongo spends building and publishing its pool events once anyone listens),
``raw-monitor`` (the same with dbplex-mongo's listener: the events plus dbplex's counting),
``dbplex`` (``hub.execute(source, Get(table, key))``, pool of one connection),
``dbplex-nostats`` (the same with ``options.pool_statistics = false``: no listener) and
``dbplex-leaks`` (the same with ``pool.leak_threshold`` set). The asyncio twins, each read awaited
on one event loop: ``raw-async`` (``await collection.find_one(...)`` on an ``AsyncMongoClient``),
``raw-async-options`` (with dbplex-mongo's timeouts), ``dbplex-async`` (``await
hub.execute(source, Get(table, key))`` on ``dbplex.open_async``) and ``dbplex-async-nostats``
(with ``pool_statistics = false``). Needs ``valgrind`` on the PATH.

``--cpu ROUNDS`` measures the other way, without valgrind: every variant open in this one
process, ROUNDS rounds of ``--large`` reads each, variants alternating within a round, process
CPU time per read (median and best over rounds):

    python benchmarks/mongo_instructions.py --url mongodb://127.0.0.1:27017/dbplex_bench --cpu 7
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import callgrind

TABLE = "bench_instructions"
KEY = "k"
VALUES = {f"field{i}": "x" * 100 for i in range(10)}
WARM = 200
VARIANTS = (
    "raw",
    "raw-options",
    "raw-events",
    "raw-monitor",
    "dbplex",
    "dbplex-nostats",
    "dbplex-leaks",
    "raw-async",
    "raw-async-options",
    "dbplex-async",
    "dbplex-async-nostats",
)


def quiet_url(url: str) -> str:
    """``url`` with one server heartbeat a minute (the background work that grows with wall time)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, "heartbeatFrequencyMS=60000") if q)
    return urlunsplit(parts._replace(query=query))


def listeners(variant: str) -> list[object]:
    """The pool listeners of a ``raw`` variant's client."""
    if variant == "raw-events":
        from pymongo import monitoring

        class Silent(monitoring.ConnectionPoolListener):
            """Every pool event, ignored."""

        for name in dir(monitoring.ConnectionPoolListener):
            if name.startswith(("connection_", "pool_")):
                setattr(Silent, name, lambda self, event: None)
        return [Silent()]
    if variant == "raw-monitor":
        from dbplex_mongo.monitor import PoolMonitor

        return [PoolMonitor(1, 1).listener()]
    return []


def raw_options(variant: str, url: str) -> dict[str, object]:
    """The ``MongoClient`` options of a ``raw`` variant: ``raw-options`` takes the ones dbplex-mongo
    gives a source's client by default (its timeouts), the others none."""
    if not variant.endswith("-options"):
        return {}
    import dbplex
    from dbplex_mongo.client import client_options

    with dbplex.open({"sources": {"m": {"url": url}}}) as hub:
        return client_options(hub.sources["m"])


def config(variant: str, url: str) -> dict[str, object]:
    """The hub configuration of a ``dbplex`` variant: one source, a pool of one connection."""
    pool = {"min_size": 1, "max_size": 1, "leak_threshold": 60 if variant == "dbplex-leaks" else 0}
    options = {"pool_statistics": not variant.endswith("-nostats")}
    return {"sources": {"m": {"url": url, "pool": pool, "options": options}}}


@contextmanager
def async_reader(variant: str, url: str) -> Iterator[Callable[[int], None]]:
    """An asyncio variant set up and warmed up on a loop of its own: what it yields makes that many
    reads, awaited one after the other (one ``run_until_complete`` per batch, a constant cost)."""
    loop = asyncio.new_event_loop()
    try:
        if variant.startswith("raw"):
            from pymongo import AsyncMongoClient

            options = {**raw_options(variant, url), "maxPoolSize": 1, "minPoolSize": 1}
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url, **options)
            collection = client.get_default_database("dbplex")[TABLE]
            loop.run_until_complete(collection.replace_one({"_id": KEY}, {"_id": KEY, **VALUES}, upsert=True))

            async def raw(count: int) -> None:
                for _ in range(count):
                    await collection.find_one({"_id": KEY})

            loop.run_until_complete(raw(WARM))
            yield lambda count: loop.run_until_complete(raw(count))
            loop.run_until_complete(client.close())
            return
        import dbplex
        from dbplex import Get, Put

        hub = dbplex.open_async(config(variant, url))
        loop.run_until_complete(hub.execute("m", Put(TABLE, KEY, VALUES)))

        async def get(count: int) -> None:
            for _ in range(count):
                await hub.execute("m", Get(TABLE, KEY))

        loop.run_until_complete(get(WARM))
        yield lambda count: loop.run_until_complete(get(count))
        loop.run_until_complete(hub.aclose())
    finally:
        loop.close()


@contextmanager
def reader(variant: str, url: str) -> Iterator[Callable[[int], None]]:
    """A variant set up and warmed up: what it yields makes that many reads."""
    if "-async" in variant:
        with async_reader(variant, url) as read:
            yield read
        return
    if variant.startswith("raw"):
        from pymongo import MongoClient

        client: MongoClient[dict[str, object]] = MongoClient(
            url, **{**raw_options(variant, url), "maxPoolSize": 1, "minPoolSize": 1}, event_listeners=listeners(variant)
        )
        collection = client.get_default_database("dbplex")[TABLE]
        collection.replace_one({"_id": KEY}, {"_id": KEY, **VALUES}, upsert=True)

        def raw(count: int) -> None:
            for _ in range(count):
                collection.find_one({"_id": KEY})

        raw(WARM)
        yield raw
        client.close()
        return
    import dbplex
    from dbplex import Get, Put

    with dbplex.open(config(variant, url)) as hub:
        hub.execute("m", Put(TABLE, KEY, VALUES))

        def get(count: int) -> None:
            for _ in range(count):
                hub.execute("m", Get(TABLE, KEY))

        get(WARM)
        yield get


def reads(variant: str, url: str, count: int) -> None:
    """The measured process: set up, warm up, then ``count`` reads."""
    with reader(variant, url) as read:
        read(count)


def cpu_per_read(variants: list[str], url: str, count: int, rounds: int) -> dict[str, list[float]]:
    """Process CPU time per read (µs) of each variant, all open in this process, rounds alternating."""
    with ExitStack() as stack:
        read = {variant: stack.enter_context(reader(variant, url)) for variant in variants}
        times: dict[str, list[float]] = {variant: [] for variant in variants}
        for _ in range(rounds):
            for variant in variants:
                started = time.process_time()
                read[variant](count)
                times[variant].append((time.process_time() - started) / count * 1e6)
    return times


def instructions(variant: str, url: str, count: int, directory: Path, main_thread: bool) -> int:
    """Instructions of one child process (or its main thread) doing ``count`` reads, as callgrind counts them."""
    child = [sys.executable, __file__, "--child", variant, "--url", url, "--count", str(count)]
    return callgrind.instructions(child, directory / f"{variant}-{count}.out", main_thread=main_thread)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a MongoDB URL (the database to write the one record to)")
    parser.add_argument("--small", type=int, default=500, help="reads of the short run")
    parser.add_argument("--large", type=int, default=2500, help="reads of the long run")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument(
        "--cpu",
        type=int,
        metavar="ROUNDS",
        help="instead of callgrind: process CPU time per read, every variant in this process, "
        "ROUNDS rounds of --large reads each, alternating",
    )
    parser.add_argument(
        "--main-thread",
        action="store_true",
        help="count the main thread's instructions only (background threads work per second, not per read)",
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = quiet_url(args.url)
    if args.child:
        reads(args.child, url, args.count)
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or args.large <= args.small:
        raise SystemExit(f"--variants takes {', '.join(VARIANTS)}; --large must exceed --small")
    if args.cpu:
        report(cpu_per_read(variants, url, args.large, args.cpu))
        return
    callgrind.require()
    per_read: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dbplex-instructions-") as tmp:
        for variant in variants:
            small = instructions(variant, url, args.small, Path(tmp), args.main_thread)
            large = instructions(variant, url, args.large, Path(tmp), args.main_thread)
            per_read[variant] = (large - small) / (args.large - args.small)
    for variant, count in per_read.items():
        raw = base_of(variant)
        base = per_read.get(raw)
        over = "" if base is None or variant == raw else f"  {count / base - 1:+.1%} over {raw}"
        print(f"{variant:20} {count:>10,.0f} instructions per read{over}")


def base_of(variant: str) -> str:
    """What a variant is compared with: bare ``find_one``, sync or async."""
    return "raw-async" if "-async" in variant else "raw"


def report(times: dict[str, list[float]]) -> None:
    """Median and best CPU µs per read of each variant and, against raw, the median of the
    rounds' ratios (each round's variants ran back to back, so other load drifts less between them)."""
    base = times.get("raw")
    for variant, rounds in times.items():
        median, best = statistics.median(rounds), min(rounds)
        over = ""
        if base is not None and variant != "raw":
            ratio = statistics.median(t / b for t, b in zip(rounds, base, strict=True))
            over = f"  over raw: {ratio - 1:+.1%} (median of rounds), best {best / min(base) - 1:+.1%}"
        print(f"{variant:14} median {median:6.1f} us, best {best:6.1f} us per read{over}")


if __name__ == "__main__":
    main()
