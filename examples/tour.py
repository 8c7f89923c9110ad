"""A tour of the uniform operations on every configured source.

    python examples/tour.py [--config dbplex.toml]

Writes a few teams of the scheduling example to each source, reads, updates, scans and
deletes them, and prints what every backend answered: the same thing, whichever it is.
"""

from __future__ import annotations

import argparse
import uuid

from rich.console import Console
from rich.table import Table

import dbplex
from dbplex import Delete, Get, Put, Scan, Update

TEAMS = {
    "t01": {"name": "Harbour Owls", "city": "Kiel", "founded": 1901, "colours": ["navy", "white"], "logo": b"\x89PNG"},
    "t02": {"name": "Larks Élan", "city": "Lyon", "founded": 1923, "colours": ["gold"], "logo": None},
    "t03": {"name": "北 Stars", "city": "Sapporo", "founded": 1950, "colours": [], "rating": 4.5},
}


def tour(hub: dbplex.Hub, source: str, console: Console) -> None:
    table_name = f"teams_{uuid.uuid4().hex[:8]}"
    steps: list[tuple[str, dbplex.Op]] = [
        *((f"put {key}", Put(table_name, key, values)) for key, values in TEAMS.items()),
        ("get t02", Get(table_name, "t02", fields=["name", "city"])),
        ("update t02", Update(table_name, "t02", {"founded": 1924})),
        ("update t99", Update(table_name, "t99", {"founded": 2000})),
        ("scan from t02", Scan(table_name, "t02", 5, fields=["name", "founded"])),
        ("delete t01", Delete(table_name, "t01")),
        ("get t01", Get(table_name, "t01")),
    ]
    view = Table("step", "affected", "rows", title=f"{source} ({hub.backend(source).name})")
    for label, op in steps:
        result = hub.execute(source, op)
        view.add_row(label, str(result.affected), ", ".join(f"{r['key']}={r['values']}" for r in result.rows))
    for key in TEAMS:
        hub.execute(source, Delete(table_name, key))
    console.print(view)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="configuration file (default: $DBPLEX_CONFIG or ./dbplex.toml)")
    args = parser.parse_args()
    console = Console()
    with dbplex.open(args.config) as hub:
        for source in hub.sources:
            tour(hub, source, console)
        stats = Table("source", "acquired", "size", "max", "mean wait ms", title="pool stats")
        for name, s in hub.pool_stats().items():
            stats.add_row(name, str(s.acquired), str(s.size), str(s.max), f"{s.wait.mean_ms:.3f}")
        console.print(stats)


if __name__ == "__main__":
    main()
