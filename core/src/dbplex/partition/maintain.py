"""Running plans: ``apply`` and ``maintain`` under the spec's maintenance lock, and ``status``.

A run takes the lock its backend provides (:meth:`Partitioner.lock`) by polling
``try_acquire`` for a bounded time (never a blocking wait), keeps a lease alive from the
migration engine's heartbeat thread, inspects the database again *under the lock*, plans,
renders and applies each action, and releases the lock. Because the plan is made under the
lock from what the database holds at that moment, and every action is idempotent, several
hosts running ``maintain`` from cron at the same minute take turns and create each partition
once: the second one finds nothing left to do.

``maintain`` is meant for cron: when another run holds the lock for longer than its short
wait, it reports ``busy`` ("another host is maintaining") and the CLI exits 0. ``apply`` is
meant for deployments: it waits longer and a lock it cannot get is an error (exit 1).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from dbplex.errors import DbplexError
from dbplex.migrate.locking import Keeper, Lock, LockOwner, LockSettings, this_process
from dbplex.partition.backend import Partitioner, inspect_at
from dbplex.partition.errors import PlanError
from dbplex.partition.interval import utc
from dbplex.partition.model import Existing
from dbplex.partition.planner import Plan, now_utc, plan
from dbplex.partition.reports import (
    ActionInfo,
    PartitionInfo,
    PlanReport,
    RunReport,
    StatusReport,
    action_info,
    bound,
    existing_info,
    header,
    partition_info,
)
from dbplex.partition.spec import PartitionSpec
from dbplex.secrets import scrub

Mode = Literal["apply", "maintain"]
#: progress callback: (spec label, message).
Notify = Callable[[str, str], None]

#: default lock settings: ``apply`` waits a minute; ``maintain`` (cron) only a few seconds.
APPLY_LOCK = LockSettings(wait=60.0, ttl=30.0)
MAINTAIN_LOCK = LockSettings(wait=5.0, ttl=30.0)


def _quiet(spec: str, message: str) -> None:
    pass


def describe_error(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, DbplexError) else f"{type(exc).__name__}: {exc}"
    return scrub(" / ".join(line.strip() for line in text.splitlines() if line.strip()))


def make_plan(partitioner: Partitioner, spec: PartitionSpec, now: datetime | None = None) -> Plan:
    """Validate, inspect and plan ``spec``, with every action's commands rendered. Changes nothing."""
    problems = partitioner.validate(spec)
    if problems:
        raise PlanError(spec.label, problems)
    moment = utc(now) if now is not None else now_utc()
    inventory = inspect_at(partitioner, spec, moment)
    result = plan(spec, inventory, moment)
    result.actions = [partitioner.render(spec, action) for action in result.actions]
    return result


def plan_report(result: Plan) -> PlanReport:
    return PlanReport(
        **header(result.spec),
        now=result.now.isoformat(),
        layout=result.inventory.layout,
        layout_reason=result.inventory.layout_reason,
        horizon=bound(result.layout.horizon),
        cutoff=bound(result.layout.cutoff),  # type: ignore[arg-type]
        actions=[action_info(a) for a in result.actions],
        notes=list(result.notes),
    )


def status(partitioner: Partitioner, spec: PartitionSpec, now: datetime | None = None) -> StatusReport:
    """What exists, what is missing, what is past retention, and what a run would do now."""
    moment = utc(now) if now is not None else now_utc()
    report = StatusReport(
        **header(spec),
        now=moment.isoformat(),
        interval=spec.interval,
        retention=spec.retention,
        retention_mode=spec.retention_mode if spec.retention else None,
        premake=spec.premake if spec.strategy == "range" else None,
    )
    problems = partitioner.validate(spec)
    if problems:
        report.ready, report.problem = False, "; ".join(problems)
        return report
    inventory = inspect_at(partitioner, spec, moment)
    report.partitions = [existing_info(e) for e in sorted(inventory.partitions, key=_order)]
    report.misplaced = inventory.misplaced
    report.outside = inventory.outside
    report.details = dict(inventory.details)
    report.layout, report.layout_reason = inventory.layout, inventory.layout_reason
    report.ready = inventory.ready and inventory.problem is None
    report.problem = inventory.problem
    try:
        result = plan(spec, inventory, moment)
    except PlanError as exc:
        report.ready = False
        report.problem = "; ".join(exc.problems)
        return report
    report.horizon = bound(result.layout.horizon)
    report.cutoff = bound(result.layout.cutoff)  # type: ignore[assignment]
    report.missing = [p.name for p in result.missing]
    report.expired = [p.name for p in result.expired]
    report.pending = len(result.actions)
    report.notes = list(result.notes)
    have = {p.name for p in report.partitions}
    report.partitions += [partition_info(p, "missing") for p in result.missing if p.name not in have]
    report.partitions.sort(key=_info_order)
    return report


def _order(existing: Existing) -> tuple[int, float, str]:
    partition = existing.partition
    lower = partition.lower
    position = lower.timestamp() if isinstance(lower, datetime) else float(lower) if isinstance(lower, int) else 0.0
    return _rank(partition.kind), position, partition.label


def _info_order(info: PartitionInfo) -> tuple[int, float, str]:
    lower = info.lower
    if isinstance(lower, int):
        position = float(lower)
    elif isinstance(lower, str):
        try:
            position = datetime.fromisoformat(lower).timestamp()
        except ValueError:
            position = 0.0
    else:
        position = 0.0
    return _rank(info.kind), position, info.label


def _rank(kind: str) -> int:
    return {"list": 0, "hash": 0, "range": 1, "default": 2}.get(kind, 3)


def _acquire(lock: Lock, settings: LockSettings) -> bool:
    """Poll ``lock`` until it is taken (True) or ``settings.wait`` has passed (False)."""
    deadline = time.monotonic() + settings.wait
    while not lock.try_acquire():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(remaining, settings.poll * random.uniform(0.5, 1.5)))
    return True


def run(
    partitioner: Partitioner,
    spec: PartitionSpec,
    mode: Mode = "maintain",
    *,
    now: datetime | None = None,
    settings: LockSettings | None = None,
    owner: LockOwner | None = None,
    notify: Notify | None = None,
) -> RunReport:
    """Bring ``spec``'s target in line under its maintenance lock; never raises for the database's sake.

    The report's ``status`` says how it went; ``exit_code`` is what the CLI exits with
    (``busy`` is 0 for ``maintain`` and 1 for ``apply``; a plan problem 2; a failed action 1).
    """
    settings = settings or (APPLY_LOCK if mode == "apply" else MAINTAIN_LOCK)
    owner = owner or this_process()
    say = notify or _quiet
    report = RunReport(**header(spec), mode=mode, run_id=owner.run_id, status="nothing")
    try:
        problems = partitioner.validate(spec)
        if problems:
            raise PlanError(spec.label, problems)
        lock = partitioner.lock(spec, owner)
        if not _acquire(lock, settings):
            holder = _holder(lock)
            report.status = "busy"
            if mode == "maintain":
                report.message = f"another host is maintaining ({holder} holds the lock); nothing done"
            else:
                report.message = (
                    f"the maintenance lock is held by {holder}; gave up after {settings.wait:g} s (--lock-wait). "
                    f"Lock: {lock.describe()}"
                )
                report.exit_code = 1
            return report
    except PlanError as exc:
        report.status, report.error, report.exit_code = "failed", str(exc), exc.exit_code
        return report
    except Exception as exc:  # connection refused, ...: one line, and the next spec still runs
        report.status, report.error = "failed", describe_error(exc)
        report.exit_code = exc.exit_code if isinstance(exc, DbplexError) else 1
        return report
    keeper = Keeper([lock], interval=max(settings.ttl / 3, 0.05))
    keeper.start()
    try:
        _locked_run(partitioner, spec, now, keeper, report, say)
    finally:
        keeper.stop()
        try:
            lock.release()
        except Exception as exc:  # a lease still expires on its own; say so
            report.notes.append(
                f"could not release the maintenance lock ({describe_error(exc)}); it expires on its own"
            )
    return report


def _holder(lock: Lock) -> str:
    try:
        return lock.holder() or "another run"
    except Exception:
        return "another run"


def _locked_run(
    partitioner: Partitioner,
    spec: PartitionSpec,
    now: datetime | None,
    keeper: Keeper,
    report: RunReport,
    say: Notify,
) -> None:
    try:
        # the clock is read after the lock is taken, and the same moment judges inventory and plan
        moment = utc(now) if now is not None else now_utc()
        inventory = inspect_at(partitioner, spec, moment)
        result = plan(spec, inventory, moment)
    except PlanError as exc:
        report.status, report.error, report.exit_code = "failed", str(exc), exc.exit_code
        return
    except Exception as exc:
        report.status, report.error = "failed", describe_error(exc)
        report.exit_code = exc.exit_code if isinstance(exc, DbplexError) else 1
        return
    report.now = result.now.isoformat()
    report.notes = list(result.notes)
    if not result.actions:
        report.message = "nothing to do"
        return
    for action in result.actions:
        if keeper.lost:
            report.status, report.exit_code = "failed", 1
            report.error = (
                f"partitions {spec.label!r}: the maintenance lock was lost (lease expired or lock session ended); "
                "the run stopped so that no other run repeats its work"
            )
            return
        started = time.monotonic()
        info: ActionInfo | None = None
        try:
            rendered = partitioner.render(spec, action)
            info = action_info(rendered)
            partitioner.apply(spec, rendered)
        except Exception as exc:
            info = info or action_info(action)
            info.status, info.error = "failed", describe_error(exc)
            info.duration_ms = round((time.monotonic() - started) * 1000)
            report.actions.append(info)
            report.status, report.exit_code = "failed", 1
            report.error = f"{action.kind} {info.partition or spec.target} failed: {info.error}"
            say(spec.label, f"failed: {action.kind} {info.partition or ''}: {info.error}")
            return
        info.status = "done"
        info.duration_ms = round((time.monotonic() - started) * 1000)
        report.actions.append(info)
        report.status = "done"
        say(spec.label, f"{action.kind} {info.partition or spec.target} ({info.duration_ms} ms)")
    done = len(report.actions)
    report.message = f"{done} action{'s' if done != 1 else ''} applied"
