"""What the benchmark harness costs per operation: the worker loop around a client that does nothing.

    python benchmarks/harness.py [--workloads c,a] [--ops 200000] [--rounds 5] [--out FILE]

``dbplex bench`` runs the identical loop for dbplex and for the raw driver (choose the operation
and its keys and values, read the clock, call the client, read the clock, record the latency),
so this cost is paid by both sides alike and cancels out of the overhead. Here the client's
methods return at once, so what is left is the loop: process CPU time and wall time per
operation, best of ``--rounds``, one thread, closed loop, no server needed.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

from dbplex.bench import workload
from dbplex.bench.engine import PhaseSpec, run_phase


class NoOp:
    """A :class:`~dbplex.bench.baseline.Baseline` whose operations do nothing."""

    label = "no-op"

    def get(self, table: str, key: str, fields: list[str] | None) -> None:
        pass

    def put(self, table: str, key: str, values: dict[str, Any]) -> None:
        pass

    def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        pass

    def update(self, table: str, key: str, values: dict[str, Any]) -> None:
        pass

    def delete(self, table: str, key: str) -> None:
        pass

    def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> None:
        pass

    def read_modify_write(self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, ops: int, rounds: int) -> dict[str, float]:
    """Best-of-``rounds`` CPU and wall microseconds per operation of workload ``name``'s run loop."""
    resolved = workload.load(name, {"operationcount": str(ops)})
    client = NoOp()
    cpu_us, wall_us = [], []
    for _ in range(rounds):
        cpu, wall = _cpu(), time.perf_counter()
        run_phase(PhaseSpec(phase="run", ops=ops, threads=1), resolved.workload, lambda: client)
        cpu_us.append((_cpu() - cpu) / ops * 1e6)
        wall_us.append((time.perf_counter() - wall) / ops * 1e6)
    return {"cpu_us_per_op": round(min(cpu_us), 3), "wall_us_per_op": round(min(wall_us), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="c,a")
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    found = {name: measure(name, args.ops, args.rounds) for name in args.workloads.split(",")}
    for name, figures in found.items():
        print(f"workload {name}: {figures['cpu_us_per_op']:.2f} µs CPU, {figures['wall_us_per_op']:.2f} µs wall per op")
    if args.out:
        args.out.write_text(json.dumps({"ops": args.ops, "rounds": args.rounds, "workloads": found}, indent=1) + "\n")


if __name__ == "__main__":
    main()
