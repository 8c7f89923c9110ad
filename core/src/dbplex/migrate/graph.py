"""The dependency graph of every source's migrations: duplicates, missing refs, cycles, order.

Within a source each version depends on the version before it, and repeatables depend on the
source's last version (they run after it). ``depends_on`` adds edges across sources. The
order of a set of migrations is a topological one; ties go to the source that sorts first,
then to the lower version, so every process computes the same order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from dbplex.migrate.discovery import order_key
from dbplex.migrate.model import Migration
from dbplex.migrate.naming import Ref


class Graph:
    """Migrations by ref with their dependencies; ``problems`` lists what is wrong."""

    def __init__(self, migrations: Mapping[str, list[Migration]]) -> None:
        self.problems: list[str] = []
        self.nodes: dict[Ref, Migration] = {}
        self.deps: dict[Ref, list[Ref]] = {}
        self._source_rank = {name: i for i, name in enumerate(sorted(migrations))}
        for source in sorted(migrations):
            self._add_source(source, migrations[source])
        for migration in self.nodes.values():
            self._add_declared(migration)
        if not self.problems:
            self._find_cycles()

    def _add_source(self, source: str, migrations: list[Migration]) -> None:
        last_version: Ref | None = None
        by_id: dict[str, Migration] = {}
        for migration in sorted(migrations, key=order_key):
            ref = migration.ref
            twin = by_id.get(ref.id)
            if twin is not None:
                what = f"version {ref.id}" if migration.kind == "versioned" else f"repeatable {migration.description!r}"
                self.problems.append(f"source {source!r}: duplicate {what}: {twin.path} and {migration.path}")
                continue
            by_id[ref.id] = migration
            self.nodes[ref] = migration
            self.deps[ref] = [last_version] if last_version else []
            if migration.kind == "versioned":
                last_version = ref

    def _add_declared(self, migration: Migration) -> None:
        for dep in migration.depends_on:
            if dep not in self.nodes:
                if not any(ref.source == dep.source for ref in self.nodes):
                    reason = f"there are no migrations for source {dep.source!r}"
                else:
                    reason = f"source {dep.source!r} has no migration {dep.id}"
                self.problems.append(f"{migration.path}: depends_on {str(dep)!r}, but {reason}")
            elif dep == migration.ref:
                self.problems.append(f"{migration.path}: depends on itself")
            else:
                self.deps[migration.ref].append(dep)

    def _find_cycles(self) -> None:
        """Depth-first search; each back edge is one cycle, reported with its files."""
        state: dict[Ref, int] = {}  # 1: on the current path, 2: done
        for start in self.nodes:
            if state.get(start):
                continue
            path: list[Ref] = [start]
            stack = [iter(self.deps[start])]
            state[start] = 1
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif state.get(dep) == 1:
                    cycle = [*path[path.index(dep) :], dep]
                    shown = " -> ".join(str(self.nodes[r].path) for r in cycle)
                    self.problems.append(f"dependency cycle: {shown} (each version also depends on the one before it)")
                elif not state.get(dep):
                    state[dep] = 1
                    path.append(dep)
                    stack.append(iter(self.deps[dep]))

    def dependents(self) -> dict[Ref, list[Ref]]:
        """The reverse edges: who depends on each ref."""
        reverse: dict[Ref, list[Ref]] = {ref: [] for ref in self.nodes}
        for ref, deps in self.deps.items():
            for dep in deps:
                reverse[dep].append(ref)
        return reverse

    def order(self, refs: Iterable[Ref]) -> list[Ref]:
        """``refs`` in dependency order (dependencies first), deterministic."""
        chosen = set(refs)
        waiting = {ref: {d for d in self.deps[ref] if d in chosen} for ref in chosen}
        users = self.dependents()
        ready = [self._priority(ref) for ref, deps in waiting.items() if not deps]
        heapq.heapify(ready)
        ordered: list[Ref] = []
        while ready:
            *_, ref = heapq.heappop(ready)
            ordered.append(ref)
            for user in users[ref]:
                if user in waiting and ref in waiting[user]:
                    waiting[user].discard(ref)
                    if not waiting[user]:
                        heapq.heappush(ready, self._priority(user))
        return ordered

    def _priority(self, ref: Ref) -> tuple[int, tuple[int, tuple[int, ...], str], Ref]:
        return (self._source_rank[ref.source], order_key(self.nodes[ref]), ref)
