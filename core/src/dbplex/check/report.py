"""What ``dbplex check`` reports: one :class:`CheckResult` per rule, in a stable JSON shape."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Status = Literal["pass", "fail"]


class Found(msgspec.Struct, kw_only=True):
    """How many rows something applies to, and the first of them (their keys' canonical text)."""

    count: int = 0
    sample: list[Any] = []

    def add(self, item: Any, limit: int) -> None:
        self.count += 1
        if len(self.sample) < limit:
            self.sample.append(item)


class CheckResult(msgspec.Struct, kw_only=True):
    """One rule's verdict with what it found. Fields a kind does not use keep their defaults."""

    name: str
    kind: str
    status: Status
    description: str = ""
    #: offending rows (``reference``: orphans as ``{"key", "value"}``; ``missing``, ``invalid``,
    #: ``duplicate``: keys); for ``mirror`` the three lists below instead.
    violations: Found = msgspec.field(default_factory=Found)
    #: ``freshness``: the newest timestamp (ISO 8601); ``row_count``: the rows counted.
    value: Any = None
    #: ``mirror``: keys only in the source, only in the target, and in both with other values.
    missing: Found = msgspec.field(default_factory=Found)
    extra: Found = msgspec.field(default_factory=Found)
    different: Found = msgspec.field(default_factory=Found)
    #: ``mirror``: ``bisection`` (segment checksums, narrowed) or ``lookup`` (stream one side,
    #: look its keys up in the other).
    method: str | None = None
    #: rows each side's server read for this check, by place (``SOURCE.TABLE``).
    reads: dict[str, int] = {}
    #: rows each side holds, by place, where the check counted them.
    rows: dict[str, int] = {}


class Report(msgspec.Struct, kw_only=True):
    """Every rule run, in the order given; ``ok`` when none failed."""

    ok: bool
    checks: list[CheckResult]
