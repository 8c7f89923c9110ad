"""Client CPU per ``Get`` with no slow-operation threshold and with one never reached, same run.

    python benchmarks/slowlog_overhead.py --url redis://127.0.0.1:6379/0 [--ops 20000] [--rounds 7]

Opens two hubs on one URL — no ``slow.threshold_ms`` (opened first, so its query hook stays
unwrapped) and ``threshold_ms = 60000`` (every op timed, none slow) — and times ``Get`` of one
small record on each, rounds alternating. Prints the best process CPU time per op of each and
the overhead over "off". What a slow op costs (rendering, the log record) is not measured: it is
paid only by ops that are already slow.
"""

from __future__ import annotations

import argparse
import time

import dbplex
from dbplex import Get, Put


def cpu_us(hub: dbplex.Hub, op: Get, ops: int) -> float:
    started = time.process_time()
    for _ in range(ops):
        hub.execute("s", op)
    return (time.process_time() - started) / ops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pool = {"min_size": 1, "max_size": 1}
    hubs = {
        label: dbplex.open({"sources": {"s": {"url": args.url, "pool": pool, "slow": slow}}})
        for label, slow in (("off", {}), ("on", {"threshold_ms": 60_000}))
    }
    op = Get(table="slowlog_overhead", key="k")
    for hub in hubs.values():
        hub.execute("s", Put(table="slowlog_overhead", key="k", values={"a": 1}))
        cpu_us(hub, op, 1000)  # warm up
    best = dict.fromkeys(hubs, float("inf"))
    for _ in range(args.rounds):
        for label, hub in hubs.items():
            best[label] = min(best[label], cpu_us(hub, op, args.ops))
    for label, us in best.items():
        print(f"{label:8} {us:7.2f} us/op  {100 * (us / best['off'] - 1):+5.1f}%")
    for hub in hubs.values():
        hub.close()


if __name__ == "__main__":
    main()
