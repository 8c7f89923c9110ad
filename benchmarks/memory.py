"""Does the client's memory stay flat as the operation count grows? Peak RSS of ``dbplex bench run`` per count.

    python benchmarks/memory.py --config dbplex.toml --source redis [--ops 100000,1000000,10000000] [--out FILE]

Runs ``dbplex bench run --no-baseline`` once per operation count (workload C, 1,000 records,
one thread, no warm-up), each in its own process, and reads that process's peak resident set
size from the kernel (``wait4``). Latencies go into HdrHistograms of fixed size, never into
lists, so the peak should not grow with the count; the target is the largest count within 10%
of the smallest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def peak_rss_mb(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MiB, wall seconds, exit code) of ``command``."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss / 1024, time.monotonic() - started, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="configuration file (default: $DBPLEX_CONFIG or ./dbplex.toml)")
    parser.add_argument("--source", required=True, help="the source to run against")
    parser.add_argument("--ops", default="100000,1000000,10000000", help="comma-separated operation counts")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    rows = []
    for ops in (int(n) for n in args.ops.split(",")):
        result_file = Path(f"/tmp/dbplex-memory-{ops}.json")
        command = [sys.executable, "-m", "dbplex.cli.main", *(["--config", args.config] if args.config else [])]
        command += ["bench", "run", "--sources", args.source, "-w", "c", "--no-baseline", "-t", "1"]
        command += ["-p", "recordcount=1000", "-p", f"operationcount={ops}", "-p", "warmupoperationcount=0"]
        command += ["--out", str(result_file)]
        rss, seconds, code = peak_rss_mb(command)
        if code != 0:
            sys.exit(f"{' '.join(command)} exited {code}")
        throughput = json.loads(result_file.read_text())["runs"][0]["phases"]["run"]["throughput"]
        rows.append({"ops": ops, "peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1), "ops_s": throughput})
        print(f"{ops:>12,} ops: peak RSS {rss:7.1f} MiB, {seconds:8.1f} s, {throughput:,.0f} ops/s", flush=True)
    growth = (rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"] - 1) * 100
    print(f"peak RSS at {rows[-1]['ops']:,} ops is {growth:+.1f}% of that at {rows[0]['ops']:,} (target: within 10%)")
    if args.out:
        document = {
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "source": args.source,
            "runs": rows,
            "growth_pct": round(growth, 2),
        }
        Path(args.out).write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
