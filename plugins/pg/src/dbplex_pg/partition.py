"""PostgreSQL declarative partitioning behind dbplex's :class:`~dbplex.partition.Partitioner`.

The core decides which partitions should exist and which are past retention; this module
reads what the catalog holds, renders the exact DDL (:mod:`dbplex_pg.partition_sql`) and runs
it. Decisions worth knowing (docs/partitioning.md, PostgreSQL):

- creation is ``CREATE TABLE IF NOT EXISTS ... PARTITION OF``, and a concurrent creator winning
  the race is not an error, so several hosts may maintain at once;
- retirement detaches ``CONCURRENTLY`` (autocommit) unless the table has a default partition,
  where PostgreSQL refuses that and a plain ``DETACH`` in a transaction is used; a detach left
  pending (cancelled, session lost) is reported by :meth:`inspect` and finished with ``FINALIZE``;
- a default partition gets a ``CHECK (key < horizon)`` fence so that far-future keys are refused
  there as they are without one; rows of a missing partition that landed in it are moved out
  when that partition is created;
- an index created ``ON ONLY`` the parent is built on each partition ``CONCURRENTLY`` and attached;
- a table of a partition's name that is no partition (detached earlier) is attached back when that
  partition is wanted, and one past retention is dropped or archived as the spec says (a retirement
  whose step after ``DETACH CONCURRENTLY`` failed);
- every session comes from the source's admin pool (``SOURCE/admin``, which the hub owns and
  reports in ``pool_stats()``), set to UTC and ISO dates so that bounds print the same whatever
  the server's settings; the maintenance lock holds one of them for as long as it is held.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from dbplex.backends import Source
from dbplex.errors import DbplexError, QueryError
from dbplex.migrate.locking import LockOwner
from dbplex.partition import (
    Action,
    Existing,
    Inventory,
    Partition,
    PartitionQuery,
    PartitionSpec,
    fixed_partitions,
    layout,
)
from dbplex.partition.naming import from_name
from dbplex.pool import Pool
from dbplex_pg import partition_catalog as catalog
from dbplex_pg import partition_sql as ddl
from dbplex_pg.errors import query_failure
from dbplex_pg.migrate_lock import PgLock, advisory_key
from dbplex_pg.partition_sql import Step

#: how long DDL waits for a table lock before failing (``options.lock_timeout`` overrides):
#: a statement queued for a lock blocks every query behind it.
LOCK_TIMEOUT = "5s"
_OPTIONS = frozenset({"lock_timeout"})
_DURATION = re.compile(r"\d+(?:\.\d+)?\s*(?:us|ms|s|min|h|d)?")
_LITERAL = re.compile(r"'([^']*)'")
#: the longest label a time partition gets (``2026-11-25T1330``) as it appears in a table name.
_LONGEST_LABEL = len("_p2026_11_25_1330")
#: another session created the same table at the same moment (pg_class/pg_type unique index; duplicate table).
_RACED = frozenset({"23505", "42P07"})


@dataclass(frozen=True)
class Fence:
    """``setup``: move the default partition's fence to ``horizon``."""

    horizon: datetime


@dataclass(frozen=True)
class IndexFix:
    """``setup``: build the parent's index ``parent_index`` on partition ``child`` and attach it."""

    parent_index: str
    definition: str
    child: str
    name: str


@dataclass(frozen=True)
class Leftover:
    """``finalize`` of a table detached past retention but never dropped or archived (the step
    after ``DETACH CONCURRENTLY`` failed): only the retention follow-up is left."""

    table: str


@dataclass
class _Facts:
    """What :meth:`PgPartitioner.inspect` learnt that rendering needs."""

    default: str | None
    columns: list[str]
    #: partition name -> its table, for partitions whose table is named otherwise (made by hand).
    tables: dict[str, str]
    #: tables named like a partition of the spec that are no partition (detached).
    detached: set[str] = field(default_factory=set)


class PgPartitioner:
    """The partitioning backend of one PostgreSQL source; its sessions come from the admin pool."""

    def __init__(self, source: Source, pool: Pool, admin: Pool, clock: Callable[[], datetime] | None = None) -> None:
        self.source = source
        self._admin = admin
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._facts: dict[str, _Facts] = {}
        #: target -> columns ordered by code point and how (:func:`partition_catalog.text_order`).
        self._text_order: dict[str, dict[str, str]] = {}

    # -- spec -------------------------------------------------------------------------------------

    def validate(self, spec: PartitionSpec) -> list[str]:
        problems = []
        for columns in spec.unique:
            if spec.key not in columns:
                problems.append(
                    f"unique key ({', '.join(columns)}) must include the partition key {spec.key}: PostgreSQL "
                    "enforces a unique constraint per partition only"
                )
        kinds = {type(v) for values in spec.lists.values() for v in values}
        if len(kinds) > 1:
            problems.append("lists: mix numbers and text; a PostgreSQL list key has one type")
        for name, value in spec.options.items():
            if name not in _OPTIONS:
                problems.append(f"options.{name}: not a PostgreSQL partition option (known: {', '.join(_OPTIONS)})")
            elif not isinstance(value, str) or not _DURATION.fullmatch(value.strip()):
                problems.append(f"options.{name}: {value!r} is not a duration such as 5s, 500ms or 1min")
        if spec.archive is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec.archive):
            problems.append(f"archive {spec.archive!r} must be a schema name (an identifier)")
        longest = max([len(p.name) for p in fixed_partitions(spec)] + [len(spec.target) + _LONGEST_LABEL])
        if longest > 63:
            problems.append(
                f"target {spec.target!r} is too long: partition names would pass PostgreSQL's 63 characters"
            )
        return problems

    def lock(self, spec: PartitionSpec, owner: LockOwner) -> PgLock:
        """An advisory lock per partitioned table (its schema and name), on a session of its own."""
        return PgLock(
            self.source,
            owner,
            lambda: advisory_key(f"partition:{self._schema()}.{spec.target}"),
            purpose="partition",
            pool=self._admin,
        )

    def _schema(self) -> str:
        row = self._run(lambda conn: conn.execute("SELECT current_schema()").fetchone())
        return str(row[0]) if row and row[0] else ""

    # -- inspect ----------------------------------------------------------------------------------

    def inspect(self, spec: PartitionSpec, *, now: datetime | None = None) -> Inventory:
        """The catalog's partitions, detached tables of the spec's names, and what to do about
        them, judged at ``now`` (``--now``; else the clock)."""
        moment = now or self._clock()
        inventory: Inventory = self._run(lambda conn: self._inspect(conn, spec, moment))
        return inventory

    def listing(self, spec: PartitionSpec) -> Inventory:
        """The partitions and their states from the catalog alone (what a query needs): no row
        counts, no scan of the default partition, no index check."""
        inventory: Inventory = self._run(lambda conn: self._catalog(conn, spec)[0])
        return inventory

    def _catalog(
        self, conn: psycopg.Connection[Any], spec: PartitionSpec
    ) -> tuple[Inventory, catalog.Parent | None, list[catalog.Child]]:
        """The inventory the catalog alone gives (and the facts rendering needs, refreshed)."""
        parent = catalog.parent(conn, spec)
        problem = catalog.problem(spec, parent)
        if parent is None or problem is not None:
            return Inventory(ready=False, problem=problem), None, []
        children = catalog.children(conn, spec, parent.oid)
        default = next((c.table for c in children if c.partition.kind == "default"), None)
        facts = _Facts(
            default=default,
            columns=catalog.writable_columns(conn, parent.oid),
            tables=catalog.renamed(children),
        )
        inventory = catalog.inventory(spec, parent, children)
        for table in catalog.unattached(conn, parent.oid, f"{spec.target}_"):
            part = from_name(spec, table)
            if part is not None and part.name == table:
                facts.detached.add(table)
                inventory.partitions.append(Existing(partition=part, state="detached"))
        self._facts[spec.target] = facts
        self._text_order[spec.target] = catalog.text_order(conn, spec.target)
        return inventory, parent, children

    def _inspect(self, conn: psycopg.Connection[Any], spec: PartitionSpec, now: datetime) -> Inventory:
        inventory, parent, children = self._catalog(conn, spec)
        if parent is None:
            return inventory
        default = self._facts[spec.target].default
        for child in children:
            if child.table != child.partition.name:
                inventory.details.setdefault("tables named otherwise", []).append(child.table)
        if spec.strategy == "range" and spec.step is not None:
            row = conn.execute(
                sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(spec.key), sql.Identifier(spec.target))
            ).fetchone()
            inventory.highest = row[0] if row else None
        inventory.actions += [
            Action(kind="finalize", partition=c.partition, reason=f"{c.table}: a DETACH CONCURRENTLY was interrupted")
            for c in children
            if c.pending
        ]
        inventory.actions += self._leftovers(spec, inventory, now)
        if default is not None:
            self._inspect_default(conn, spec, inventory, default, {c.table for c in children}, now)
        for parent_index, definition, table in catalog.missing_indexes(conn, parent.oid):
            fix = IndexFix(parent_index, definition, table, _index_name(table, parent_index))
            inventory.actions.append(
                Action(
                    kind="setup",
                    partition=next(c.partition for c in children if c.table == table),
                    reason=f"{table} lacks index {parent_index} of {spec.target}: build it CONCURRENTLY and attach it",
                    payload=fix,
                )
            )
        return inventory

    def _leftovers(self, spec: PartitionSpec, inventory: Inventory, now: datetime) -> list[Action]:
        """Detached tables past the retention cutoff that ``drop`` / ``archive`` should have removed:
        the step after ``DETACH CONCURRENTLY`` failed, and the table is no longer in ``pg_inherits``.
        With ``retention_mode = "detach"`` such tables are what retention leaves, and stay."""
        if spec.retention_mode == "detach":
            return []
        verb = "dropped" if spec.retention_mode == "drop" else f"moved to {spec.archive}"
        return [
            Action(
                kind="finalize",
                partition=e.partition,
                reason=f"{e.partition.name} was detached past retention but never {verb}: finish its retirement",
                payload=Leftover(e.partition.name),
            )
            for e in inventory.partitions
            if e.state == "detached" and self._expired(spec, e.partition, now)
        ]

    def _inspect_default(
        self,
        conn: psycopg.Connection[Any],
        spec: PartitionSpec,
        inventory: Inventory,
        default: str,
        tables: set[str],
        now: datetime,
    ) -> None:
        """Rows in the default partition: those that belong in a wanted partition to create
        (``misplaced``, moved by ``repair``), and the others (``outside``: history before the
        window, keys of no list partition, NULL keys), all counted in one scan of the default
        partition; the far-future fence. The default partition never holds a key an attached
        partition takes, so ``outside`` is every row of it but the misplaced ones."""
        plan = layout(spec, now, inventory.highest)
        missing = [p for p in plan.wanted if p.kind in ("range", "list") and p.name not in tables]
        counts = [sql.SQL("count(*) FILTER (WHERE {})").format(ddl.holds(p, spec.key)) for p in missing]
        statement = sql.SQL("SELECT count(*), {} FROM {}").format(
            sql.SQL(", ").join(counts) if counts else sql.SQL("0"), sql.Identifier(default)
        )
        total, *row = conn.execute(statement).fetchone() or (0,)
        found = [(p, n) for p, n in zip(missing, row, strict=False) if n]
        inventory.misplaced = sum(n for _, n in found)
        inventory.outside = int(total or 0) - inventory.misplaced
        if found:
            names = ", ".join(f"{n} for {p.name}" for p, n in found)
            inventory.actions.append(
                Action(
                    kind="repair",
                    partition=None,
                    reason=f"{default} holds rows that belong in partitions to create ({names}): move them",
                    payload=[p for p, _ in found],
                )
            )
        if spec.is_time_range and isinstance(plan.horizon, datetime):
            current = catalog.fence_of(conn, default, ddl.FENCE)
            literal = _LITERAL.search(current or "")
            at = catalog.parse_time(literal[1]) if literal else None
            inventory.details["default fence"] = at.isoformat() if at else None
            if at != plan.horizon:
                inventory.actions.append(
                    Action(
                        kind="setup",
                        partition=Partition(target=spec.target, kind="default", label="default"),
                        reason=f"{default}: refuse keys from {plan.horizon.isoformat()} (the premade horizon) on",
                        payload=Fence(plan.horizon),
                    )
                )

    # -- render and apply -------------------------------------------------------------------------

    def render(self, spec: PartitionSpec, action: Action) -> Action:
        action.commands = [line for step in self._steps(spec, action) for line in ddl.text(step)]
        return action

    def _moment(self, action: Action) -> datetime:
        """The moment the plan was made for (``--now``), else the clock: retention and the fence
        must agree with the plan that proposed the action."""
        return action.now or self._clock()

    def _steps(self, spec: PartitionSpec, action: Action) -> list[Step]:
        part = action.partition
        now = self._moment(action)
        if action.kind == "create" and part is not None:
            return self._create(spec, part, now)
        if action.kind == "repair":
            partitions: list[Partition] = action.payload or []
            return [s for p in partitions for s in self._create(spec, p, now)]
        if action.kind == "setup" and isinstance(action.payload, Fence):
            default = self._known(spec).default or Partition(target=spec.target, kind="default", label="default").name
            return [Step([ddl.fence(default, spec.key, action.payload.horizon)])]
        if action.kind == "setup" and isinstance(action.payload, IndexFix):
            fix = action.payload
            return [
                Step([ddl.child_index(fix.definition, fix.child, fix.name)], transaction=False),
                Step([ddl.attach_index(fix.parent_index, fix.name)]),
            ]
        if action.kind == "retire" and part is not None:
            return self._retire(spec, part, now)
        if action.kind == "finalize" and part is not None and isinstance(action.payload, Leftover):
            return self._after_detach(spec, part, now)
        if action.kind == "finalize" and part is not None:
            finalize = ddl.finalize(spec.target, self._table(spec, part))
            return [Step([finalize], transaction=False), *self._after_detach(spec, part, now)]
        raise DbplexError(f"partition {spec.label}: PostgreSQL has no {action.kind!r} action for {part}")

    def _create(self, spec: PartitionSpec, part: Partition, now: datetime) -> list[Step]:
        """``CREATE TABLE IF NOT EXISTS ... PARTITION OF``; ``ATTACH PARTITION`` instead when a table
        of that name exists on its own (a partition detached earlier): ``IF NOT EXISTS`` would do
        nothing there."""
        facts = self._known(spec)
        detached = part.name in facts.detached
        make = ddl.attach(spec.target, part) if detached else ddl.create(spec.target, part)
        if part.kind == "default":
            statements: list[ddl.Statement] = [make]
            horizon = layout(spec, now).horizon
            if spec.is_time_range and isinstance(horizon, datetime):
                statements.append(ddl.fence(part.name, spec.key, horizon))
            return [Step(statements, tolerate=_RACED)]
        if (facts.default is None and not spec.default) or part.kind == "hash":
            return [Step([make], tolerate=_RACED)]
        default = facts.default or Partition(target=spec.target, kind="default", label="default").name
        statements = ddl.move_out_of_default(spec.target, default, part, spec.key, facts.columns, attach_table=detached)
        return [Step(statements, tolerate=_RACED)]

    def _retire(self, spec: PartitionSpec, part: Partition, now: datetime) -> list[Step]:
        if self._known(spec).default is None and not spec.default:
            return [
                Step([ddl.detach(spec.target, self._table(spec, part), concurrently=True)], transaction=False),
                *self._after_detach(spec, part, now),
            ]
        # PostgreSQL refuses DETACH CONCURRENTLY on a table with a default partition.
        follow = [s for step in self._after_detach(spec, part, now) for s in step.statements]
        return [Step([ddl.detach(spec.target, self._table(spec, part), concurrently=False), *follow])]

    def _after_detach(self, spec: PartitionSpec, part: Partition, now: datetime) -> list[Step]:
        """What retention does with a detached partition; nothing when it is not past the window."""
        if not self._expired(spec, part, now):
            return []
        if spec.retention_mode == "drop":
            return [Step([ddl.drop(self._table(spec, part))])]
        if spec.retention_mode == "archive" and spec.archive:
            return [Step(ddl.archive(self._table(spec, part), spec.archive))]
        return []

    def _expired(self, spec: PartitionSpec, part: Partition, now: datetime) -> bool:
        cutoff = layout(spec, now).cutoff
        return cutoff is not None and isinstance(part.upper, datetime) and part.upper <= cutoff

    def _known(self, spec: PartitionSpec) -> _Facts:
        """The facts :meth:`inspect` found; read from the catalog now if neither it nor
        :meth:`listing` ran (render needs the column list)."""
        if spec.target not in self._facts:
            self.listing(spec)
        return self._facts.get(spec.target) or _Facts(default=None, columns=[], tables={})

    def _table(self, spec: PartitionSpec, part: Partition) -> str:
        """The table of ``part``: its name, unless the catalog holds it under another one."""
        return self._known(spec).tables.get(part.name, part.name)

    def apply(self, spec: PartitionSpec, action: Action) -> None:
        part = action.partition
        if action.kind == "retire" and part is not None:
            self._check_retire(spec, part, self._moment(action))
        self._run(lambda conn: self._apply(conn, spec, action), f"{action.kind} {part.name if part else spec.target}")
        if part is not None and part.kind == "default" and action.kind == "create":
            self._known(spec).default = part.name  # from now on: no DETACH CONCURRENTLY, moves on create

    def _apply(self, conn: psycopg.Connection[Any], spec: PartitionSpec, action: Action) -> None:
        part = action.partition
        state = self._state(conn, spec, self._table(spec, part)) if part is not None else None
        made = _made(action)
        if made:  # what the catalog holds now decides between CREATE and ATTACH, not what inspect saw
            facts = self._known(spec)
            for partition in made:
                if catalog.standalone(conn, partition.name):
                    facts.detached.add(partition.name)
                else:
                    facts.detached.discard(partition.name)
        steps = self._steps(spec, action)
        if action.kind in ("retire", "finalize") and part is not None:
            if state is None:  # already detached by an earlier run: only what follows the detach is left
                steps = self._after_detach(spec, part, self._moment(action))
                if steps:
                    self._check_detached(conn, spec, self._table(spec, part), self._moment(action))
            elif state == "pending":
                steps = self._steps(spec, Action(kind="finalize", partition=part, reason=action.reason, now=action.now))
        if action.kind == "setup" and isinstance(action.payload, IndexFix):
            _drop_invalid_index(conn, action.payload.name)
        timeout = str(spec.options.get("lock_timeout", LOCK_TIMEOUT))
        attaching = [p for p in made if p.name in self._known(spec).detached]
        for step in steps:
            try:
                self._send(conn, step, timeout)
            except psycopg.Error as exc:
                if (
                    exc.sqlstate in step.tolerate
                    and part is not None
                    and self._state(conn, spec, self._table(spec, part))
                ):
                    continue  # a concurrent run created it first
                if attaching:
                    raise _cannot_attach(spec, attaching, exc) from exc
                raise
        for partition in made:
            if self._state(conn, spec, partition.name) != "attached":
                raise DbplexError(
                    f"partition {spec.label}: {partition.name} is still not a partition of {spec.target} after "
                    f"{action.kind}: a table or other relation of that name is in the way; rename or drop it, "
                    "then run `dbplex partition apply` again"
                )
            self._known(spec).detached.discard(partition.name)

    def _check_detached(self, conn: psycopg.Connection[Any], spec: PartitionSpec, table: str, now: datetime) -> None:
        """Before dropping or archiving a table that is no longer a partition (PostgreSQL no longer
        enforces its bound): refuse when it holds a key inside the retention window."""
        if not catalog.standalone(conn, table):
            return
        cutoff = layout(spec, now).cutoff
        row = conn.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(spec.key), sql.Identifier(table)))
        newest = (row.fetchone() or (None,))[0]
        if cutoff is None or (newest is not None and catalog.as_utc(newest) >= cutoff):
            raise DbplexError(
                f"partition {spec.label}: refusing to retire the detached table {table}: it holds {spec.key} = "
                f"{newest}, not before the retention cutoff {cutoff.isoformat() if cutoff else '(no retention)'}"
            )

    @staticmethod
    def _send(conn: psycopg.Connection[Any], step: Step, timeout: str) -> None:
        """One step with ``lock_timeout`` set for it only: ``SET LOCAL`` in a transaction; in
        autocommit mode set for the session and reset afterwards, so that the session (which
        also serves queries) does not keep it."""
        if step.transaction:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(timeout)))
                for statement in step.statements:
                    conn.execute(statement)
            return
        conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(timeout)))
        try:
            for statement in step.statements:
                conn.execute(statement)
        finally:
            if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                conn.execute("RESET lock_timeout")

    @staticmethod
    def _state(conn: psycopg.Connection[Any], spec: PartitionSpec, child: str) -> str | None:
        """``attached``, ``pending`` (a detach to finalize), or None when it is not a partition of the target."""
        row = conn.execute(
            "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(quote_ident(%s)) "
            "AND inhparent = to_regclass(quote_ident(%s))",
            [child, spec.target],
        ).fetchone()
        return None if row is None else "pending" if row[0] else "attached"

    def _check_retire(self, spec: PartitionSpec, part: Partition, now: datetime) -> None:
        """Never retire a partition that may hold rows inside the retention window: its bound in the
        catalog (which PostgreSQL enforces on every row) must end at or before the cutoff."""
        cutoff = layout(spec, now).cutoff
        table = self._table(spec, part)
        actual = next((c.partition for c in self._children(spec) if c.table == table), part)
        if cutoff is None or not isinstance(actual.upper, datetime) or actual.upper > cutoff:
            raise DbplexError(
                f"partition {spec.label}: refusing to retire {part.name}: it may hold rows newer than the retention "
                f"cutoff {cutoff.isoformat() if cutoff else '(no retention)'} (its upper bound is {actual.upper})"
            )

    def _children(self, spec: PartitionSpec) -> list[catalog.Child]:
        def read(conn: psycopg.Connection[Any]) -> list[catalog.Child]:
            parent = catalog.parent(conn, spec)
            return catalog.children(conn, spec, parent.oid) if parent and parent.kind == "p" else []

        children: list[catalog.Child] = self._run(read)
        return children

    # -- rows -------------------------------------------------------------------------------------

    def insert(self, spec: PartitionSpec, rows: Iterable[dict[str, Any]]) -> int:
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            columns = tuple(row)
            groups.setdefault(columns, []).append(tuple(_adapt(row[c]) for c in columns))
        written = 0
        with self._session() as conn:
            try:
                with conn.transaction(), conn.cursor() as cur:
                    for columns, values in groups.items():
                        cur.executemany(ddl.insert(spec.target, columns), values)
                        written += len(values)
            except psycopg.errors.CheckViolation as exc:
                raise _refused(spec, exc) from exc
            except psycopg.Error as exc:
                raise query_failure(self.source.name, conn, exc) from exc
        return written

    def fetch(self, spec: PartitionSpec, partition: Partition, query: PartitionQuery) -> list[dict[str, Any]]:
        """Rows of one partition in the core's order: text columns ``COLLATE "C"`` (code points)."""
        statement, params = ddl.select(self._table(spec, partition), query, text_order=self._ordering(spec))

        def read(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=dict_row) as cur:
                return cur.execute(statement, params).fetchall()

        rows: list[dict[str, Any]] = self._run(read)
        return rows

    def explain(self, spec: PartitionSpec, query: PartitionQuery) -> str:
        """``EXPLAIN`` on the parent with the values inlined, so that the planner prunes partitions
        at plan time and only those that can match appear."""
        statement, params = ddl.select(spec.target, query, explain=True)

        def read(conn: psycopg.Connection[Any]) -> str:
            with psycopg.ClientCursor(conn) as cur:
                return "\n".join(str(row[0]) for row in cur.execute(statement, params).fetchall())

        plan: str = self._run(read)
        return plan

    def _ordering(self, spec: PartitionSpec) -> dict[str, str]:
        """The target's columns ordered by code point (read once; :meth:`inspect` and :meth:`listing` refresh it)."""
        found = self._text_order.get(spec.target)
        if found is None:
            found = self._run(lambda conn: catalog.text_order(conn, spec.target))
            self._text_order[spec.target] = found
        return found

    def close(self) -> None:
        """Nothing to close: the sessions are the hub's, given back after each use."""

    @contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        """An admin session in UTC with ISO dates (set once per connection: the server reports both)."""
        with self._admin.connection() as conn:
            info = conn.info
            if info.parameter_status("TimeZone") != "UTC" or info.parameter_status("DateStyle") != "ISO, YMD":
                conn.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'")
            yield conn

    def _run(self, work: Callable[[psycopg.Connection[Any]], Any], what: str = "") -> Any:
        """``work`` on an admin session, errors said in dbplex's terms."""
        with self._session() as conn:
            try:
                return work(conn)
            except psycopg.Error as exc:
                failure = query_failure(self.source.name, conn, exc)
                raise type(failure)(f"{what}: {failure}" if what else str(failure)) from exc


def _made(action: Action) -> list[Partition]:
    """The partitions a ``create`` or ``repair`` makes (a repair creates each it moves rows into)."""
    if action.kind == "create" and action.partition is not None:
        return [action.partition]
    if action.kind == "repair" and isinstance(action.payload, list):
        return [p for p in action.payload if isinstance(p, Partition)]
    return []


def _cannot_attach(spec: PartitionSpec, partitions: list[Partition], exc: psycopg.Error) -> DbplexError:
    """A table of a partition's name (detached earlier) that PostgreSQL will not attach back."""
    names = ", ".join(p.name for p in partitions)
    why = exc.diag.message_primary or str(exc)
    if exc.sqlstate == "23514":
        what = f"holds rows outside the partition's bounds ({why})"
    else:
        what = f"cannot become a partition of {spec.target} ({why}; SQLSTATE {exc.sqlstate})"
    return DbplexError(
        f"partition {spec.label}: {names} exists as a table of its own (a partition detached earlier?) and {what}: "
        f"move those rows out or rename or drop the table, then run `dbplex partition apply` again"
    )


def _index_name(child: str, parent_index: str) -> str:
    """``<partition>_<parent index>``, shortened with a hash past PostgreSQL's 63 characters."""
    name = f"{child}_{parent_index}"
    if len(name) <= 63:
        return name
    return f"{name[:54]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _drop_invalid_index(conn: psycopg.Connection[Any], name: str) -> None:
    """A failed CREATE INDEX CONCURRENTLY leaves an INVALID index: drop it before building again."""
    row = conn.execute(
        "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(quote_ident(%s))", [name]
    ).fetchone()
    if row and row[0]:
        conn.execute(ddl.drop_index_concurrently(name))


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


def _refused(spec: PartitionSpec, exc: psycopg.Error) -> DbplexError:
    """A row no partition takes (or that the default partition's fence refuses), said plainly."""
    diag = exc.diag
    detail = diag.message_detail or ""
    if diag.constraint_name == ddl.FENCE:
        return QueryError(
            f"partition {spec.label}: {spec.key} is beyond the premade horizon, refused as a far-future key "
            f"({detail or diag.message_primary}); check the value, or raise `premake` and run `dbplex partition apply`"
        )
    if "no partition of relation" in (diag.message_primary or ""):
        found = re.search(r"contains \((.+?)\) = \((.+)\)", detail)
        what = f"{found[1]} = {found[2]}" if found else detail
        return QueryError(
            f"partition {spec.label}: no partition of {spec.target} holds {what}: create it with "
            "`dbplex partition apply` (or `maintain`), or check the value"
        )
    return QueryError(f"partition {spec.label}: {diag.message_primary} (SQLSTATE {exc.sqlstate}); {detail}")
