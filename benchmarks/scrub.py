"""Is secret masking linear in its input? Seconds of ``dbplex.secrets.scrub`` per input size and shape.

    python benchmarks/scrub.py [--sizes 10000,40000,80000,1000000,10000000] [--rounds 3] [--out FILE]

Every CLI output, driver error message and bench result goes through ``scrub``, so a 10 MB
record printed by ``dbplex op`` is a 10 MB scrub. Shapes: ``letters`` (one long word, the input
that made the old regex quadratic), ``prose`` (words and spaces), ``urls`` (a URL with a
password every 100 characters), ``one-url`` (a single URL whose password runs to the end) and
``params`` (``&password=`` over and over, the most work per character). Linear means: time per
MB about the same at every size. ``--before`` adds the regex ``scrub`` used before (the
letters shape, up to 80 KB only: it is quadratic).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from dbplex.secrets import scrub


def _repeat(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


#: a URL with a password and a secret query parameter, then prose, 100 characters in all.
_URL_UNIT = "postgresql://app:pw@db:5432/app?password=s3cret lorem ipsum ".ljust(100, "x")

SHAPES: dict[str, Callable[[int], str]] = {
    "letters": lambda n: "x" * n,
    "prose": lambda n: _repeat("lorem ipsum ", n),
    "urls": lambda n: _repeat(_URL_UNIT, n),
    "one-url": lambda n: "redis://u:" + "p" * (n - 10),
    "params": lambda n: "a://h/?" + _repeat("&password=s", n - 7),
}

#: the masking regex before this benchmark existed, kept here only to show its quadratic growth.
_BEFORE = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@", re.I)


def _before(text: str) -> str:
    return _BEFORE.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def best_of(rounds: int, mask: Callable[[str], str], text: str) -> float:
    """The fastest of ``rounds`` runs, in seconds (the others were slowed by something else)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        mask(text)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,40000,80000,1000000,10000000", help="comma-separated input sizes")
    parser.add_argument("--rounds", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--before", action="store_true", help="also time the regex used before (letters, <= 80 KB)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    rows = []
    for size in (int(n) for n in args.sizes.split(",")):
        for shape, make in SHAPES.items():
            text = make(size)
            seconds = best_of(args.rounds, scrub, text)
            rows.append({"code": "scrub", "shape": shape, "chars": len(text), "seconds": seconds})
        if args.before and size <= 80_000:
            seconds = best_of(1, _before, SHAPES["letters"](size))
            rows.append({"code": "before", "shape": "letters", "chars": size, "seconds": seconds})
    print(f"{'code':7} {'shape':8} {'chars':>11} {'seconds':>9} {'s per MB':>9}")
    for row in rows:
        per_mb = row["seconds"] / row["chars"] * 1e6 if row["chars"] else 0.0
        print(f"{row['code']:7} {row['shape']:8} {row['chars']:>11,} {row['seconds']:>9.4f} {per_mb:>9.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
