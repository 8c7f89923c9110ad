"""Partitions, what a database holds of them, and the actions that maintain them.

Names are decided here, once, so that every backend and every host agrees: a time partition of
``games`` by month starting 2026-11-01 is ``games_p2026_11`` (label ``2026-11``); by day,
``audit_logs_p2026_11_25``; a numeric range from 1000 is ``t_p1000`` (``t_pm1000`` below zero);
hash remainder 3 is ``t_h3``; a list partition is ``t_<suffix>``; the default one ``t_default``.
A backend may render a partition under another physical name (Redis uses ``target:label``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

#: a time label with an hour (``2026-11-25T13``) or a minute (``2026-11-25T1330``).
_TIME_LABEL = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}|\d{4})")

Kind = Literal["range", "list", "hash", "default"]
Bound = datetime | int

#: what a database says about a partition it holds.
State = Literal["attached", "detaching", "detached", "archived"]

ActionKind = Literal[
    "create",  # make a partition (range, list, hash, default)
    "retire",  # retention: drop, detach or archive a partition past the window
    "finalize",  # finish an interrupted retirement (PostgreSQL DETACH ... FINALIZE)
    "setup",  # make the target itself ready (e.g. a MongoDB time-series collection, shard commands)
    "repair",  # move rows out of a default partition into the partitions they belong to
]


def identifier(text: str) -> str:
    """``text`` with the characters a table name cannot hold (``:``, ``-``) made ``_``."""
    return text.replace(":", "_").replace("-", "_")


def label_identifier(label: str) -> str:
    """A range label as it appears in a name: ``2026-11-25T13`` -> ``2026_11_25_13``. Only the ``T``
    between a date and an hour is a separator; every other letter is kept."""
    timed = _TIME_LABEL.fullmatch(label)
    return identifier(f"{timed[1]}_{timed[2]}" if timed else label)


@dataclass(frozen=True)
class Partition:
    """One partition of a target: its name and which key values it holds."""

    target: str
    kind: Kind
    #: readable and sortable: ``2026-11``, ``h3``, a list suffix, ``default``, ``1000``.
    label: str
    #: range partitions: lower bound (inclusive) and upper bound (exclusive).
    lower: Bound | None = None
    upper: Bound | None = None
    #: list partitions: the key values it holds.
    values: tuple[str | int, ...] = ()
    #: hash partitions.
    modulus: int | None = None
    remainder: int | None = None

    @property
    def name(self) -> str:
        """The partition's table/collection name."""
        base = identifier(self.target)
        if self.kind == "range":
            stamp = "m" + self.label[1:] if self.label.startswith("-") else label_identifier(self.label)
            return f"{base}_p{stamp}"
        return f"{base}_{self.label}"

    def holds(self, value: Any) -> bool | None:
        """Whether a row with key ``value`` belongs here; None when only the database knows (hash)."""
        if self.kind == "range":
            return (self.lower is None or value >= self.lower) and (self.upper is None or value < self.upper)
        if self.kind == "list":
            return value in self.values
        return None


@dataclass(frozen=True)
class Existing:
    """A partition as the database reports it."""

    partition: Partition
    state: State = "attached"
    #: rows it holds, when the backend can tell cheaply; None otherwise.
    rows: int | None = None
    #: True when ``rows`` is the catalog's estimate (PostgreSQL ``reltuples``), not a count.
    rows_estimated: bool = False


@dataclass
class Inventory:
    """What a database holds for one spec, as its partitioner found it."""

    partitions: list[Existing] = field(default_factory=list)
    #: False when the target is missing or not partitioned the way the spec says.
    ready: bool = True
    #: why it is not ready, and what to do (e.g. "table games is not partitioned: ...").
    problem: str | None = None
    #: rows in the default partition that belong in a real one (PostgreSQL), else 0.
    misplaced: int = 0
    #: rows in the default partition that no wanted partition takes (history before the window,
    #: keys of no list partition, NULL keys), when the backend counts them; None otherwise.
    outside: int | None = None
    #: actions only the backend knows are needed (finalize a pending detach, create the
    #: time-series collection, shard the collection, move misplaced rows).
    actions: list[Action] = field(default_factory=list)
    #: anything else worth showing in ``status`` (server kind, sharding, TTL).
    details: dict[str, Any] = field(default_factory=dict)
    #: how the backend lays the target out (MongoDB: ``timeseries``, ``collections``,
    #: ``collection``) and why, for ``plan`` and ``status``: the spec asked for it, or the server
    #: decided it. None for a backend with one layout (PostgreSQL, Redis).
    layout: str | None = None
    layout_reason: str | None = None
    #: the database guarantees that its default partition holds no key another attached partition
    #: takes (PostgreSQL enforces this), so a query whose keys all fall in other partitions may skip
    #: it. False (the default) makes cross-partition queries always read the default partition.
    default_exclusive: bool = False
    #: numeric ranges: the largest key value present, when the backend can tell (premake counts
    #: from the partition holding it); None otherwise.
    highest: int | None = None


@dataclass
class Action:
    """One step of a plan, with the exact commands its backend will send."""

    kind: ActionKind
    partition: Partition | None
    #: why it is in the plan, for people reading ``dbplex partition plan``.
    reason: str
    #: the commands as text (SQL, a MongoDB command document, Redis commands), filled by the backend.
    commands: list[str] = field(default_factory=list)
    #: backend-private data for ``apply``. A ``repair`` that creates partitions lists them here
    #: (a list of :class:`Partition`) so that the planner does not create them again.
    payload: Any = None
    #: the moment the plan was made for (``--now``, else the clock), set by the planner; a backend
    #: that checks a horizon or a cutoff itself should use it rather than its own clock.
    now: datetime | None = None
