"""Java ``.properties`` text, as YCSB workload files are written, read into ordered pairs.

Only what workload files use: ``key=value``, ``key: value`` or ``key value``; ``#`` and ``!``
comment lines; a trailing backslash continues a line. Each pair keeps its line number so that
errors can point at it.
"""

from __future__ import annotations

import re

from dbplex.errors import ConfigError

_SEPARATOR = re.compile(r"\s*[=:]\s*|\s+")


def parse(text: str, origin: str) -> list[tuple[str, str, int]]:
    """``(key, value, line)`` for every property in ``text``; ``origin`` names the file in errors."""
    pairs: list[tuple[str, str, int]] = []
    logical, first_line = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if not logical:
            first_line = number
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical += line[:-1]
            continue
        logical += line
        pairs.append(_split(logical, origin, first_line))
        logical = ""
    if logical:
        pairs.append(_split(logical, origin, first_line))
    return pairs


def _split(line: str, origin: str, number: int) -> tuple[str, str, int]:
    match = _SEPARATOR.search(line)
    key, value = (line[: match.start()], line[match.end() :]) if match else (line, "")
    if not key:
        raise ConfigError(f"{origin} line {number}: a property needs a name before '=': {line!r}")
    return key, value.strip(), number
