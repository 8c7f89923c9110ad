"""Instructions spent building uniform ops, where the value-domain checks (dbplex.values) run.

Builds COUNT ops of one KIND in a loop; run it under callgrind at two counts and divide the
difference, so start-up cost cancels out (the command is in docs/benchmarks.md):

    python benchmarks/op_checks.py KIND COUNT     # KIND: get, put, nested
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from dbplex import Get, Op, Put

KEY = "user6284781860667377211"
YCSB_RECORD = {f"field{i}": "x" * 100 for i in range(10)}
NESTED_RECORD = {"a": [1, 2.5, {"b": "c", "d": [True, None, b"x"]}], "n": 12345, "s": "héllo"}
BUILDERS: dict[str, Callable[[], Op]] = {
    "get": lambda: Get("usertable", KEY),
    "put": lambda: Put("usertable", KEY, YCSB_RECORD),
    "nested": lambda: Put("usertable", KEY, NESTED_RECORD),
}


def main() -> None:
    kind, count = sys.argv[1], int(sys.argv[2])
    build = BUILDERS[kind]
    for _ in range(count):
        build()


if __name__ == "__main__":
    main()
