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

from hub_overhead import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pool = {"min_size": 1, "max_size": 1}
    compare(
        "slowlog_overhead",
        (("off", {}), ("on", {"threshold_ms": 60_000})),
        lambda slow: {"sources": {"s": {"url": args.url, "pool": pool, "slow": slow}}},
        args.ops,
        args.rounds,
    )


if __name__ == "__main__":
    main()
