"""What the partition commands return: plain Structs, printed as tables or as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from dbplex.partition.model import Action, Existing, Partition
from dbplex.partition.spec import PartitionSpec

Bound = str | int | None
#: what happened to one action of a run.
ActionStatus = Literal["planned", "done", "failed", "skipped"]
#: how a run of one spec ended: "done" (actions applied), "nothing" (already in line), "busy"
#: (another run held the lock: fine for maintain), "failed" (an action or the plan failed).
RunStatus = Literal["done", "nothing", "busy", "failed"]


class PartitionInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    label: str
    kind: str
    lower: Bound = None
    upper: Bound = None
    values: list[str | int] = []
    modulus: int | None = None
    remainder: int | None = None
    #: attached, detaching, detached, archived; "missing" for a wanted partition not there.
    state: str = "attached"
    rows: int | None = None
    #: True when ``rows`` is an estimate (PostgreSQL's catalog), not a count.
    rows_estimated: bool = False


class ActionInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: str
    partition: str | None
    reason: str
    commands: list[str] = []
    status: ActionStatus = "planned"
    duration_ms: int | None = None
    error: str | None = None


class SpecHeader(msgspec.Struct, kw_only=True):
    spec: str
    source: str
    target: str
    strategy: str
    key: str


class PlanReport(SpecHeader, kw_only=True):
    now: str
    #: the backend's layout for the target and why (see ``Inventory.layout``); None for one-layout backends.
    layout: str | None = None
    layout_reason: str | None = None
    horizon: Bound = None
    cutoff: str | None = None
    actions: list[ActionInfo] = []
    notes: list[str] = []


class RunReport(SpecHeader, kw_only=True):
    mode: Literal["apply", "maintain"]
    run_id: str
    status: RunStatus
    message: str = ""
    now: str | None = None
    actions: list[ActionInfo] = []
    notes: list[str] = []
    error: str | None = None
    #: the CLI exit code this outcome calls for (0, 1 or 2).
    exit_code: int = 0


class StatusReport(SpecHeader, kw_only=True):
    now: str
    ready: bool = True
    problem: str | None = None
    layout: str | None = None
    layout_reason: str | None = None
    interval: str | None = None
    retention: str | None = None
    retention_mode: str | None = None
    premake: int | None = None
    horizon: Bound = None
    cutoff: str | None = None
    partitions: list[PartitionInfo] = []
    #: wanted partitions that do not exist (maintain would create them).
    missing: list[str] = []
    #: attached partitions past retention (maintain would retire them).
    expired: list[str] = []
    #: rows in a default partition that belong in a real one.
    misplaced: int = 0
    #: rows the default partition holds outside every (wanted) partition; None when not counted.
    outside: int | None = None
    #: actions a run would take now.
    pending: int = 0
    notes: list[str] = []
    details: dict[str, Any] = {}


def bound(value: object) -> Bound:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def partition_info(
    partition: Partition, state: str = "attached", rows: int | None = None, rows_estimated: bool = False
) -> PartitionInfo:
    return PartitionInfo(
        name=partition.name,
        label=partition.label,
        kind=partition.kind,
        lower=bound(partition.lower),
        upper=bound(partition.upper),
        values=list(partition.values),
        modulus=partition.modulus,
        remainder=partition.remainder,
        state=state,
        rows=rows,
        rows_estimated=rows_estimated,
    )


def existing_info(existing: Existing) -> PartitionInfo:
    return partition_info(existing.partition, existing.state, existing.rows, existing.rows_estimated)


def action_info(action: Action, status: ActionStatus = "planned") -> ActionInfo:
    return ActionInfo(
        kind=action.kind,
        partition=action.partition.name if action.partition is not None else None,
        reason=action.reason,
        commands=list(action.commands),
        status=status,
    )


def header(spec: PartitionSpec) -> dict[str, Any]:
    return {
        "spec": spec.label,
        "source": spec.source,
        "target": spec.target,
        "strategy": spec.strategy,
        "key": spec.key,
    }
