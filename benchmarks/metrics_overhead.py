"""Client CPU per ``Get`` with operation metrics off and on, in the same run.

    python benchmarks/metrics_overhead.py --url redis://127.0.0.1:6379/0 [--ops 20000] [--rounds 7]

Opens three hubs on one URL — metrics off (opened first, so its query hook stays unwrapped),
on, and on with OpenTelemetry (the API's global provider: a no-op unless the application set
an SDK) — and times ``Get`` of one small record on each, rounds alternating. Prints the best
process CPU time per op of each and the overhead over "off". ``--wrapper`` times the metrics
wrapper alone around a function that does nothing (``--ops`` calls a round).
"""

from __future__ import annotations

import argparse
import timeit

from hub_overhead import compare

import dbplex
from dbplex import Get


def wrapper_ns(url: str, calls: int, rounds: int) -> None:
    """The metrics wrapper alone: ``compose_dbplex_query`` around a function that does nothing,
    against that function, best of ``rounds`` (no I/O, so other load moves it less)."""
    from dbplex.metrics.recorder import MetricsPlugin

    with dbplex.open({"sources": {"s": {"url": url}}}) as hub:
        source = hub.sources["s"]
        plugin = MetricsPlugin()
        plugin.watch([source])

        def inner(*, source: object, conn: object, op: object) -> None:
            return None

        call = plugin.compose_dbplex_query(inner)
        op = Get(table="metrics_overhead", key="k")
        call(source=source, conn=None, op=op)  # the first op of a thread takes the locked path
        bare = min(timeit.repeat(lambda: inner(source=source, conn=None, op=op), number=calls, repeat=rounds))
        wrapped = min(timeit.repeat(lambda: call(source=source, conn=None, op=op), number=calls, repeat=rounds))
    print(f"wrapper  {(wrapped - bare) / calls * 1e9:7.0f} ns/op  (bare call {bare / calls * 1e9:.0f} ns)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--wrapper", action="store_true", help="time the metrics wrapper alone, without I/O")
    args = parser.parse_args()
    if args.wrapper:
        wrapper_ns(args.url, args.ops, args.rounds)
        return
    pool = {"min_size": 1, "max_size": 1}
    compare(
        "metrics_overhead",
        (
            ("off", {"enabled": False}),
            ("on", {"enabled": True, "otel": False}),
            ("on+otel", {"enabled": True, "otel": True}),
        ),
        lambda metrics: {"sources": {"s": {"url": args.url, "pool": pool}}, "metrics": metrics},
        args.ops,
        args.rounds,
    )


if __name__ == "__main__":
    main()
