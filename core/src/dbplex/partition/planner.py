"""From a spec, the clock and what a database holds, to the ordered actions that maintain it.

Pure: the planner reads an :class:`~dbplex.partition.model.Inventory` (which the backend's
``inspect`` produced) and never talks to a database, so every decision here is tested without
a server. Order of a plan:

1. what only the backend can see is needed (``setup``, ``finalize``, ``repair``), as it proposed;
2. ``create`` for every wanted partition that is missing (fixed ones first, then ranges oldest
   first), except one a ``repair`` of step 1 creates (:func:`repaired`), and one whose range or
   values overlap a partition that exists under another name: that one is skipped and the plan
   says so;
3. ``retire`` for every attached range partition whose whole range is past the retention
   cutoff (``upper <= cutoff``), oldest first. A partition that can hold a row inside the
   window is never retired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from dbplex.partition.errors import PlanError
from dbplex.partition.interval import utc
from dbplex.partition.layout import Layout, layout
from dbplex.partition.model import Action, Existing, Inventory, Partition
from dbplex.partition.spec import PartitionSpec

_RETIRE_VERB = {
    "drop": "drop",
    "detach": "detach (the table is kept)",
    "archive": "move to the archive",
}


@dataclass
class Plan:
    """What a run would do for one spec, and why."""

    spec: PartitionSpec
    now: datetime
    layout: Layout
    inventory: Inventory
    actions: list[Action] = field(default_factory=list)
    #: wanted partitions not created because they overlap an existing one, and other things
    #: a reader of the plan should know.
    notes: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[Partition]:
        """Wanted partitions the plan creates."""
        return [a.partition for a in self.actions if a.kind == "create" and a.partition is not None]

    @property
    def expired(self) -> list[Partition]:
        """Partitions the plan retires."""
        return [a.partition for a in self.actions if a.kind == "retire" and a.partition is not None]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def plan(
    spec: PartitionSpec, inventory: Inventory, now: datetime | None = None, *, problems: Sequence[str] = ()
) -> Plan:
    """The actions that bring ``spec``'s target in line with its layout at ``now``.

    ``problems`` are what the backend's ``validate`` found. They, and ``inventory.problem``,
    stop the plan with :class:`PlanError`.
    """
    stop = list(problems)
    if inventory.problem:
        stop.append(inventory.problem)
    if stop:
        raise PlanError(spec.label, stop)
    moment = utc(now) if now is not None else now_utc()
    wanted = layout(spec, moment, inventory.highest)
    result = Plan(spec=spec, now=moment, layout=wanted, inventory=inventory)
    result.actions.extend(inventory.actions)
    _creates(result)
    _retires(result)
    for action in result.actions:
        action.now = moment
    if inventory.misplaced and not any(a.kind == "repair" for a in inventory.actions):
        result.notes.append(
            f"{inventory.misplaced} rows in the default partition belong in a real partition; "
            "the backend proposed no move for them"
        )
    return result


def _live(existing: Existing) -> bool:
    """Whether a partition still takes part in the target (retired ones do not)."""
    return existing.state in ("attached", "detaching")


def overlaps(a: Partition, b: Partition) -> bool:
    """Whether two partitions of one target could both hold some key value."""
    if a.kind == "range" and b.kind == "range":
        if a.lower is None or a.upper is None or b.lower is None or b.upper is None:
            return True
        if type(a.lower) is not type(b.lower):
            return False
        return bool(a.lower < b.upper and b.lower < a.upper)  # type: ignore[operator]
    if a.kind == "list" and b.kind == "list":
        return bool(set(a.values) & set(b.values))
    if a.kind == "hash" and b.kind == "hash":
        return a.modulus != b.modulus or a.remainder == b.remainder
    return a.kind == "default" and b.kind == "default"


def repaired(action: Action) -> list[Partition]:
    """The partitions a ``repair`` action creates: its ``partition``, and the :class:`Partition`
    items of a list ``payload`` (PostgreSQL's repair moves rows into several partitions at once)."""
    found = [action.partition] if action.partition is not None else []
    if isinstance(action.payload, (list, tuple)):
        found += [p for p in action.payload if isinstance(p, Partition)]
    return found


def _creates(result: Plan) -> None:
    existing = result.inventory.partitions
    # a wanted partition that was detached or archived is made again (PostgreSQL attaches a detached
    # table of its name back); one still attached or detaching is there
    names = {e.partition.name for e in existing if _live(e)}
    # a repair that the backend proposed creates these partitions itself (moving rows into them)
    names |= {p.name for a in result.actions if a.kind == "repair" for p in repaired(a)}
    live = [e.partition for e in existing if _live(e)]
    for partition in result.layout.wanted:
        if partition.name in names:
            continue
        clash = next((other for other in live if overlaps(partition, other)), None)
        if clash is not None:
            result.notes.append(
                f"{partition.name} ({_describe(partition)}) is not created: it overlaps {clash.name} ({_describe(clash)})"
            )
            continue
        result.actions.append(Action(kind="create", partition=partition, reason=_create_reason(result, partition)))


def _create_reason(result: Plan, partition: Partition) -> str:
    if partition.kind == "default":
        return "default partition asked for (`default = true`)"
    if partition.kind in ("list", "hash"):
        return f"{partition.kind} partition of the spec"
    horizon = result.layout.horizon
    if isinstance(partition.lower, datetime) and partition.lower > result.now:
        return f"premake: ahead of now, up to {horizon.isoformat() if isinstance(horizon, datetime) else horizon}"
    if isinstance(partition.upper, datetime) and partition.upper <= result.now:
        spec = result.spec
        if spec.retention is not None:
            return f"inside the retention window ({spec.retention}), missing"
        return f"history kept from `since` ({spec.since}), missing"
    if isinstance(partition.lower, datetime):
        return "holds now"
    return f"numeric range, up to {horizon}"


def _retires(result: Plan) -> None:
    cutoff = result.layout.cutoff
    if cutoff is None:
        return
    spec = result.spec
    pending = {a.partition.name for a in result.actions if a.partition is not None}
    expired = [
        e.partition
        for e in result.inventory.partitions
        if e.state == "attached"
        and e.partition.kind == "range"
        and isinstance(e.partition.upper, datetime)
        and e.partition.upper <= cutoff
        and e.partition.name not in pending
    ]
    for partition in sorted(expired, key=lambda p: p.upper):  # type: ignore[arg-type,return-value]
        assert isinstance(partition.upper, datetime) and partition.upper <= cutoff  # never an in-window row
        result.actions.append(
            Action(
                kind="retire",
                partition=partition,
                reason=(
                    f"retention {spec.retention}: every row is before {cutoff.isoformat()}; "
                    f"{_RETIRE_VERB[spec.retention_mode]}"
                ),
            )
        )


def _describe(partition: Partition) -> str:
    if partition.kind == "range":
        return f"[{_bound(partition.lower)}, {_bound(partition.upper)})"
    if partition.kind == "list":
        return "values " + ", ".join(map(repr, partition.values))
    if partition.kind == "hash":
        return f"modulus {partition.modulus} remainder {partition.remainder}"
    return "default"


def _bound(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
