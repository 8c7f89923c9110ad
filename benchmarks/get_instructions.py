"""Client CPU instructions per ``hub.execute(source, Get)``: raw driver, metrics off and on, slow-op threshold.

Timings on the shared two-core machine move with other load by more than the few per cent these
comparisons are about; instruction counts do not. Each variant runs in a fresh Python process
under valgrind's callgrind, once with ``--small`` and once with ``--large`` reads of one small
record over a pool of one connection, after ``WARM`` reads of warm-up. Only the main thread's
instructions are counted (``--separate-threads=yes``, its file ``-01``): the pool's housekeeper
and other background threads do work per second of wall time, not per read, and a run lasts
minutes under valgrind. The difference between the two runs, divided by the difference in
reads, is the cost of one warm read, start-up and set-up cancelled out.

    python benchmarks/get_instructions.py --url redis://127.0.0.1:6379/0
    python benchmarks/get_instructions.py --url postgresql://postgres@127.0.0.1:5432/test

Variants: ``raw`` (the backend plugin's raw-driver bench baseline, ``Baseline.get``: what a
careful user of the driver writes), ``off`` (``hub.execute(Get)``, ``[metrics] enabled =
false``), ``on`` (metrics on, ``otel = false``), ``otel`` (metrics on, ``otel = true`` with the
OpenTelemetry API and no SDK: its instruments are no-ops) and ``slow`` (metrics off, ``slow.threshold_ms =
60000``: every read timed, none slow) and ``async`` (``await hub.execute(Get)`` on
``dbplex.open_async``, metrics off). Needs ``valgrind`` on the PATH.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import callgrind

TABLE = "bench_get_instructions"
KEY = "k"
VALUES = {f"field{i}": "x" * 100 for i in range(10)}
WARM = 200
VARIANTS: dict[str, dict[str, Any]] = {
    "raw": {"metrics": {"enabled": False}},
    "off": {"metrics": {"enabled": False}},
    "on": {"metrics": {"enabled": True, "otel": False}},
    "otel": {"metrics": {"enabled": True, "otel": True}},
    "slow": {"metrics": {"enabled": False}, "slow": {"threshold_ms": 60_000}},
    "async": {"metrics": {"enabled": False}},
}


@contextmanager
def async_reader(url: str) -> Iterator[Callable[[int], None]]:
    """The ``async`` variant: ``await hub.execute(Get)`` on ``dbplex.open_async``, the reads of one
    call awaited in turn on one event loop (one ``run_until_complete`` per call, which the slope cancels)."""
    import asyncio

    import dbplex
    from dbplex import Get, Put

    loop = asyncio.new_event_loop()
    source = {"url": url, "pool": {"min_size": 1, "max_size": 1}}
    hub = dbplex.open_async({"sources": {"s": source}, "metrics": VARIANTS["async"]["metrics"]})
    loop.run_until_complete(hub.__aenter__())
    try:
        loop.run_until_complete(hub.execute("s", Put(TABLE, KEY, VALUES)))
        op = Get(TABLE, KEY)

        async def reads(count: int) -> None:
            for _ in range(count):
                await hub.execute("s", op)

        def read(count: int) -> None:
            loop.run_until_complete(reads(count))

        read(WARM)
        yield read
    finally:
        loop.run_until_complete(hub.__aexit__(None, None, None))
        loop.close()


@contextmanager
def reader(variant: str, url: str) -> Iterator[Callable[[int], None]]:
    """A variant set up and warmed up: what it yields makes that many reads."""
    if variant == "async":
        with async_reader(url) as read:
            yield read
        return
    import dbplex
    from dbplex import Get, Put
    from dbplex.bench.targets import baseline

    settings = VARIANTS[variant]
    source = {"url": url, "pool": {"min_size": 1, "max_size": 1}, "slow": settings.get("slow", {})}
    with dbplex.open({"sources": {"s": source}, "metrics": settings["metrics"]}) as hub:
        hub.execute("s", Put(TABLE, KEY, VALUES))
        if variant == "raw":
            raw = baseline(hub, "s", 1)
            if raw is None:
                raise SystemExit(f"the backend of {url} has no raw-driver bench baseline")

            def read(count: int) -> None:
                for _ in range(count):
                    raw.get(TABLE, KEY, None)

        else:
            op = Get(TABLE, KEY)

            def read(count: int) -> None:
                for _ in range(count):
                    hub.execute("s", op)

        read(WARM)
        yield read
        if variant == "raw":
            raw.close()


def instructions(variant: str, url: str, count: int, directory: Path) -> int:
    """Instructions of the main thread of one child process doing ``count`` reads."""
    child = [sys.executable, __file__, "--child", variant, "--url", url, "--count", str(count)]
    return callgrind.instructions(child, directory / f"{variant}-{count}.out", main_thread=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a source URL (the record is written to its table)")
    parser.add_argument("--small", type=int, default=500, help="reads of the short run")
    parser.add_argument("--large", type=int, default=2500, help="reads of the long run")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with reader(args.child, args.url) as read:
            read(args.count)
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or args.large <= args.small:
        raise SystemExit(f"--variants takes {', '.join(VARIANTS)}; --large must exceed --small")
    callgrind.require()
    per_read: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dbplex-instructions-") as tmp:
        for variant in variants:
            small = instructions(variant, args.url, args.small, Path(tmp))
            large = instructions(variant, args.url, args.large, Path(tmp))
            per_read[variant] = (large - small) / (args.large - args.small)
            print(f"{variant:5} {per_read[variant]:>10,.0f} instructions per read", flush=True)
    for base in ("raw", "off"):
        if base in per_read:
            line = ", ".join(f"{v} {per_read[v] / per_read[base] - 1:+.2%}" for v in per_read if v not in ("raw", base))
            print(f"over {base}: {line}")


if __name__ == "__main__":
    main()
