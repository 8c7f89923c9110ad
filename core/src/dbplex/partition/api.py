"""The partitioned-target handle applications use: ``hub.partitioned("games")``.

>>> games = hub.partitioned("games")                                    # doctest: +SKIP
>>> games.apply()                                                         # create what is missing
>>> games.insert([{"id": 1, "starts_at": kickoff, ...}])
>>> page = games.query(("starts_at", ">=", "2026-11-01"), order_by=["-starts_at", "id"], limit=20)
>>> page.rows, page.scanned, page.pruned
>>> print(games.explain(("starts_at", ">=", "2026-11-01")))            # PostgreSQL: pruning shown
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from dbplex.config import Config
from dbplex.errors import ConfigError, OpError
from dbplex.migrate.locking import LockSettings
from dbplex.partition import maintain, scatter
from dbplex.partition.backend import Partitioner, insert_at, inspect_at, partitions_for_query
from dbplex.partition.errors import ActionFailed, KeyOutOfRange, MaintenanceBusy
from dbplex.partition.interval import utc
from dbplex.partition.layout import far_future, partition_for
from dbplex.partition.maintain import Mode
from dbplex.partition.model import Inventory, Partition
from dbplex.partition.planner import Plan, now_utc
from dbplex.partition.query import Condition, Order, PartitionQuery
from dbplex.partition.reports import RunReport, StatusReport
from dbplex.partition.scatter import ScatterResult
from dbplex.partition.spec import PartitionSpec

#: what :meth:`Partitioned.query` accepts as a condition.
ConditionLike = Condition | tuple[str, str, Any]
#: what it accepts as an order: ``"field"``, ``"-field"`` (descending), ``("field", "desc")`` or :class:`Order`.
OrderLike = Order | str | tuple[str, Literal["asc", "desc"]]


def conditions(items: Iterable[ConditionLike], where: dict[str, Any] | None = None) -> list[Condition]:
    """Conditions from tuples ``(field, op, value)`` and equalities ``{field: value}``."""
    found: list[Condition] = []
    for item in items:
        if isinstance(item, Condition):
            found.append(item)
            continue
        if not (isinstance(item, tuple) and len(item) == 3):
            raise OpError(f"a condition is (field, op, value), got {item!r}")
        name, op, value = item
        if op == "=":
            op = "=="
        if op not in ("==", "!=", "<", "<=", ">", ">=", "in"):
            raise OpError(f"{name}: operator {op!r} is not one of ==, !=, <, <=, >, >=, in")
        found.append(Condition(name, op, list(value) if op == "in" else value))  # type: ignore[arg-type]
    for name, value in (where or {}).items():
        found.append(Condition(name, "==", value))
    return found


def orders(items: Iterable[OrderLike]) -> list[Order]:
    found: list[Order] = []
    for item in items:
        if isinstance(item, Order):
            found.append(item)
        elif isinstance(item, str):
            found.append(Order(item[1:], "desc") if item.startswith("-") else Order(item))
        elif isinstance(item, tuple) and len(item) == 2 and item[1] in ("asc", "desc"):
            found.append(Order(item[0], item[1]))
        else:
            raise OpError(f"an order is 'field', '-field' or ('field', 'asc'|'desc'), got {item!r}")
    return found


def configured(config: Config, spec: str | PartitionSpec) -> PartitionSpec:
    """``spec`` itself, or the ``[partitions.NAME]`` of ``config`` it names (both hubs' lookup)."""
    if not isinstance(spec, str):
        return spec
    try:
        return config.partitions[spec]
    except KeyError:
        known = ", ".join(sorted(config.partitions)) or "none configured"
        raise ConfigError(f"unknown partition spec {spec!r} (configured: {known})") from None


class Partitioned:
    """One partitioned table, collection or key family: maintain it, write to it, query across it.

    Made by :meth:`dbplex.Hub.partitioned`; shares the hub's partitioner for the source.
    """

    def __init__(self, spec: PartitionSpec, partitioner: Partitioner) -> None:
        self.spec = spec
        self.partitioner = partitioner

    def __repr__(self) -> str:
        return f"Partitioned({self.spec.label!r}, source={self.spec.source!r}, target={self.spec.target!r})"

    # -- maintenance -------------------------------------------------------------------------------

    def inventory(self, now: datetime | None = None) -> Inventory:
        """What the database holds for the spec now (``now``: the moment to judge it for)."""
        return inspect_at(self.partitioner, self.spec, now)

    def plan(self, now: datetime | None = None) -> Plan:
        """What :meth:`apply` would do, with each action's exact commands. Changes nothing."""
        return maintain.make_plan(self.partitioner, self.spec, now)

    def apply(self, now: datetime | None = None, *, lock_wait: float = 60.0) -> RunReport:
        """Create what is missing and retire what is past retention, under the maintenance lock.

        Raises :class:`MaintenanceBusy` when another run holds the lock for ``lock_wait`` seconds,
        :class:`ActionFailed` when the database rejects an action, :class:`PlanError` for a spec
        the backend cannot do.
        """
        return self._run("apply", now, lock_wait)

    def maintain(self, now: datetime | None = None, *, lock_wait: float = 5.0) -> RunReport:
        """Like :meth:`apply`, but a lock held by another run is no error: the report says ``busy``."""
        return self._run("maintain", now, lock_wait)

    def _run(self, mode: Mode, now: datetime | None, lock_wait: float) -> RunReport:
        settings = LockSettings(wait=lock_wait, ttl=maintain.APPLY_LOCK.ttl)
        report = maintain.run(self.partitioner, self.spec, mode, now=now, settings=settings)
        if report.status == "failed":
            if report.exit_code == 2:
                from dbplex.partition.errors import PlanError

                raise PlanError(self.spec.label, [report.error or "cannot plan"])
            raise ActionFailed(report.error or "a partition action failed", report)
        if report.status == "busy" and mode == "apply":
            raise MaintenanceBusy(f"partitions {self.spec.label!r}: {report.message}")
        return report

    def status(self, now: datetime | None = None) -> StatusReport:
        """Partitions present, missing and expired, horizon, cutoff, misplaced rows."""
        return maintain.status(self.partitioner, self.spec, now)

    # -- data --------------------------------------------------------------------------------------

    def partition_for(self, value: datetime | int | str) -> Partition | None:
        """The range or list partition a key value belongs to (None for hash: the database decides)."""
        if self.spec.is_time_range and isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            value = utc(value)
        return partition_for(self.spec, value)  # type: ignore[arg-type]

    def insert(self, rows: Iterable[dict[str, Any]], *, now: datetime | None = None) -> int:
        """Write rows where they belong; returns how many. Far-future keys are refused.

        A key beyond the premade horizon raises :class:`KeyOutOfRange` before anything is written;
        the backend refuses rows whose partition does not exist.
        """
        batch = list(rows)
        moment = utc(now) if now is not None else now_utc()
        for row in batch:
            if self.spec.key not in row:
                raise OpError(f"partitions {self.spec.label!r}: a row has no partition key {self.spec.key!r}")
            refused = far_future(self.spec, row[self.spec.key], moment)
            if refused:
                raise KeyOutOfRange(f"partitions {self.spec.label!r}: {refused}")
        return insert_at(self.partitioner, self.spec, batch, now)

    def query(
        self,
        *where: ConditionLike,
        equal: dict[str, Any] | None = None,
        order_by: Sequence[OrderLike] = (),
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> ScatterResult:
        """Rows matching every condition, across the partitions that can hold them, in global order.

        ``where`` are ``(field, op, value)`` tuples (op: ``==``, ``!=``, ``<``, ``<=``, ``>``,
        ``>=``, ``in``) or :class:`Condition`; ``equal`` adds equalities. ``order_by`` takes
        ``"field"``, ``"-field"`` or ``("field", "desc")``. The result has ``rows``, ``scanned``
        and ``pruned`` (partition names).
        """
        return self.run(self.build(*where, equal=equal, order_by=order_by, limit=limit, offset=offset, fields=fields))

    @staticmethod
    def build(
        *where: ConditionLike,
        equal: dict[str, Any] | None = None,
        order_by: Sequence[OrderLike] = (),
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> PartitionQuery:
        """A :class:`PartitionQuery` from the friendly arguments of :meth:`query`."""
        return PartitionQuery(
            where=conditions(where, equal),
            order_by=orders(order_by),
            limit=limit,
            offset=offset,
            fields=list(fields) if fields is not None else None,
        )

    def run(self, request: PartitionQuery, *, inventory: Inventory | None = None) -> ScatterResult:
        """Run a prepared :class:`PartitionQuery` (scatter, prune, merge).

        The partitions come from ``inventory`` when given (one :meth:`inventory` can serve many
        queries while no maintenance runs), else from the catalog: the partitioner's optional
        ``listing`` (no scans), or :meth:`inventory` when it has none.
        """
        found = inventory or partitions_for_query(self.partitioner, self.spec)
        return scatter.query(self.partitioner, self.spec, found, request)

    def explain(self, *where: ConditionLike, **kwargs: Any) -> str:
        """The database's own plan where it has one (PostgreSQL EXPLAIN shows pruned partitions);
        otherwise the scatter plan: which partitions would be read and which pruned."""
        request = where[0] if len(where) == 1 and isinstance(where[0], PartitionQuery) else self.build(*where, **kwargs)
        request = scatter.normalize(self.spec, request)
        native = self.partitioner.explain(self.spec, request)
        inventory = partitions_for_query(self.partitioner, self.spec)
        attached = [e.partition for e in inventory.partitions if e.state == "attached"]
        keep, drop = scatter.candidates(
            self.spec, attached, request, self.partitioner, default_exclusive=inventory.default_exclusive
        )
        lines = [
            f"scatter over {self.spec.label}: {len(keep)} of {len(keep) + len(drop)} partitions",
            "  scan:  " + (", ".join(p.name for p in keep) or "none"),
            "  prune: " + (", ".join(p.name for p in drop) or "none"),
        ]
        if native:
            lines += ["", native]
        return "\n".join(lines)
