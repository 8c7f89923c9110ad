"""The other process of the two-process cache test: a hub of its own on the same configuration.

Usage: ``python reader.py CONFIG SOURCE TABLE``. It prints ``{"ready": true}``, then for each
key read from stdin (one a line; an empty line ends it) reads that record through the cache and
prints one JSON line with the rows and this process's hit and miss counts of the table.
"""

from __future__ import annotations

import json
import sys

import dbplex
from dbplex import Get


def main() -> None:
    config, source, table = sys.argv[1:4]
    with dbplex.open(config) as hub:
        assert hub.cache is not None
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            key = line.strip()
            if not key:
                break
            rows = hub.execute(source, Get(table=table, key=key)).rows
            stats = hub.cache.stats()[f"{source}.{table}"]
            print(json.dumps({"rows": rows, "hits": stats.hits, "misses": stats.misses}), flush=True)


if __name__ == "__main__":
    main()
