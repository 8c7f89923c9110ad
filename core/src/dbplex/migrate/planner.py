"""Which migrations a run applies or reverts, and in what order.

Pure: it reads files (as a :class:`~dbplex.migrate.graph.Graph`) and histories (as
:class:`~dbplex.migrate.history.Ledger` objects) and returns steps, or raises
:class:`~dbplex.migrate.errors.PlanError` listing every problem with the files it concerns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dbplex.migrate.errors import PlanError
from dbplex.migrate.graph import Graph
from dbplex.migrate.history import Ledger
from dbplex.migrate.model import Migration, Step
from dbplex.migrate.naming import Ref, version_key
from dbplex.migrate.validation import two_heads


def pending_reason(migration: Migration, ledger: Ledger) -> str | None:
    """Why ``migration`` should be applied, or None when it need not be."""
    entry = ledger.entry(migration.id, migration.version_key)
    if migration.kind == "repeatable":
        if entry is None or entry.row is None or not entry.applied:
            return "new"
        if entry.checksum != migration.checksum:
            return "changed"
        # a revert may have dropped what it created (a view over a dropped table): run it again
        return "reapply" if ledger.last_revert > entry.row.rank else None
    if entry is None:
        return "new"
    if entry.applied:
        return None
    return "reapply" if entry.state == "rolled_back" else "retry"


def _closure(start: Iterable[Ref], edges: Mapping[Ref, list[Ref]], include: Mapping[Ref, bool]) -> set[Ref]:
    """``start`` plus everything reachable through ``edges`` whose ``include`` is true."""
    chosen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), []):
            if nxt not in chosen and include.get(nxt, False):
                chosen.add(nxt)
                todo.append(nxt)
    return chosen


def _outside(graph: Graph, chosen: set[Ref], sources: list[str], verb: str) -> list[str]:
    """A problem for each step that ``--source`` left out but the plan needs."""
    extra = sorted(ref for ref in chosen if ref.source not in sources)
    if not extra:
        return []
    one = len(extra) == 1
    names = ", ".join(str(graph.nodes[r].path) for r in extra)
    needed = " ".join(f"--source {s}" for s in sorted({r.source for r in extra}))
    if verb == "apply":
        why = f"{'is' if one else 'are'} needed first but not selected"
    else:
        why = f"{'depends' if one else 'depend'} on what is reverted but {'is' if one else 'are'} not selected"
    return [f"{names} {why}; add {needed}"]


def plan_up(graph: Graph, ledgers: Mapping[str, Ledger], sources: list[str], target: Ref | None = None) -> list[Step]:
    """Steps that bring ``sources`` up to date (or, with ``target``, up to that version)."""
    problems = list(graph.problems)
    for source in sources:
        problems += two_heads([m for r, m in graph.nodes.items() if r.source == source], ledgers[source])
    if problems:
        raise PlanError(problems)
    reasons: dict[Ref, str | None] = {
        ref: pending_reason(m, ledgers[ref.source]) if ref.source in ledgers else "new"
        for ref, m in graph.nodes.items()
    }
    if target is not None:
        if target.source not in sources:
            raise PlanError([f"--to {target}: source {target.source!r} is not selected"])
        target_key = version_key(target.id[1:]) if target.id.startswith("V") else None
        if target_key is None or target not in graph.nodes:
            raise PlanError([f"--to {target}: no such versioned migration in source {target.source!r}"])
        start = {
            ref
            for ref, m in graph.nodes.items()
            if ref.source == target.source and m.kind == "versioned" and m.version_key <= target_key and reasons[ref]
        }
    else:
        start = {ref for ref in graph.nodes if ref.source in sources and reasons[ref]}
    chosen = _closure(start, graph.deps, {ref: reason is not None for ref, reason in reasons.items()})
    problems = _outside(graph, chosen, sources, "apply")
    if problems:
        raise PlanError(problems)
    return [Step(graph.nodes[ref], "up", reasons[ref] or "new") for ref in graph.order(chosen)]


def plan_down(graph: Graph, ledgers: Mapping[str, Ledger], sources: list[str], target: Ref | None = None) -> list[Step]:
    """Steps that revert ``sources`` to ``target`` (a version, ``V0`` for all), else the latest one.

    Whatever depends on a reverted migration in another source is reverted first.
    """
    if graph.problems:
        raise PlanError(graph.problems)
    if target is None:
        if len(sources) != 1:
            raise PlanError(
                [
                    f"down without --to reverts one migration of one source; pick one with --source ({', '.join(sources)})"
                ]
            )
        source = sources[0]
    else:
        source = target.source
        if source not in sources:
            raise PlanError([f"--to {target}: source {source!r} is not selected"])
        if not target.id.startswith("V"):
            raise PlanError([f"--to {target}: down goes to a version (repeatable migrations are not reverted)"])
    ledger = ledgers[source]
    if target is not None and target.id != "V0" and target not in graph.nodes and target.id not in ledger.entries():
        raise PlanError([f"--to {target}: no such version in source {source!r} (V0 reverts every migration)"])
    applied = {
        ref: m
        for ref, m in graph.nodes.items()
        if m.kind == "versioned" and ledgers[ref.source].applied(m.id, m.version_key)
    }
    own = sorted((m.version_key, ref) for ref, m in applied.items() if ref.source == source)
    problems = []
    if target is None:
        start = {own[-1][1]} if own else set()
        floor = own[-1][0] if own else ()
    else:
        floor = version_key(target.id[1:])
        start = {ref for key, ref in own if key > floor}
    for id, entry in ledger.entries().items():
        row = entry.row
        missing = entry.applied and row is not None and row.kind == "versioned" and Ref(source, id) not in graph.nodes
        if missing and row is not None and row.version is not None and version_key(row.version) > floor:
            problems.append(
                f"source {source!r}: {row.script} ({id}) is applied but its file is missing, so it cannot be reverted"
            )
    chosen = _closure(start, graph.dependents(), dict.fromkeys(applied, True))
    problems += _outside(graph, chosen, sources, "revert")
    problems += [f"{graph.nodes[r].path} is irreversible" for r in sorted(chosen) if graph.nodes[r].irreversible]
    if problems:
        raise PlanError(problems)
    return [Step(graph.nodes[ref], "down", "revert") for ref in reversed(graph.order(chosen))]
