"""Redis's :class:`~dbplex.partition.Partitioner`: time-bucketed and hash-tagged sorted sets.

Keys, members, scores and commands come from :mod:`dbplex_redis.partition_keys` (which says
how they are laid out); this module reads the registry and the buckets, sends the commands and
reads and writes rows. Keys start with the source's ``prefix``, like the record ops' keys. Its
commands go through the hub's pool of the source, and the maintenance lock holds a connection of
the admin pool, so ``pool_stats()`` counts every connection. For a ``redis+cluster://`` source
the pools lend a :class:`~dbplex_redis.cluster_pool.ClusterClient`: a read runs on a connection
of its key's master, a pipeline is split into one per master (replies put back in order), a
``SCAN`` visits every master, and the lock holds a connection of the lock key's master. Every
command names one key (a bucket, the registry, the lock), so none spans slots; a hash bucket's
tag keeps it, and bucket ``r`` of every family sharing ``colocate``, in one slot. Maintenance
follows no redirection: a slot that moved re-reads the slot map and fails the step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from dbplex.backends import Source
from dbplex.errors import DbplexError, OpError, QueryError
from dbplex.migrate.locking import LockOwner, LockSettings
from dbplex.partition.errors import KeyOutOfRange, PlanError
from dbplex.partition.interval import utc
from dbplex.partition.layout import fixed_partitions, partition_of
from dbplex.partition.model import Action, Existing, Inventory, Partition
from dbplex.partition.naming import from_label
from dbplex.partition.query import PartitionQuery
from dbplex.partition.rendered import rendered_commands
from dbplex.partition.rowfilter import matches
from dbplex.partition.scatter import merge
from dbplex.partition.spec import PartitionSpec
from dbplex.pool import Pool
from dbplex.secrets import scrub
from dbplex_redis import partition_keys as keys
from dbplex_redis.errors import RedisSourceUnavailable, translate
from dbplex_redis.execute import MOVED, redirection
from dbplex_redis.migrate_lock import RedisLock

if TYPE_CHECKING:
    from dbplex_redis.cluster_pool import ClusterClient

Row = dict[str, Any]
Command = tuple[Any, ...]
T = TypeVar("T")
#: a maintenance lock lasts this long without a heartbeat (the core renews it while it runs).
LOCK_TTL = 60.0
_ERRORS = (redis.exceptions.RedisError,)


class RedisPartitioner:
    """The partitioning backend of one Redis source."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.prefix: str = source.options.prefix
        #: a ``redis_cluster`` source: the pools lend a ClusterClient, commands go to their key's master.
        self.cluster = source.backend == "redis_cluster"
        self._pool = pool
        self._admin = admin

    def _run(self, doing: str, action: Callable[[redis.Redis], T], key: Any = None) -> T:
        """``action`` on a connection of the source's pool; on a cluster, of the master serving ``key``."""
        if self.cluster:
            return self._on_cluster(doing, lambda cluster: _on_master(cluster, action, key=key))
        with self._pool.connection() as client:
            try:
                return action(client)
            except _ERRORS as exc:
                if isinstance(exc, DbplexError):  # the pool's own error (down, exhausted): says it all
                    raise
                raise translate(self.source, client, exc, doing) from exc

    def _on_cluster(self, doing: str, work: Callable[[ClusterClient], T]) -> T:
        """``work`` on the cluster source's ClusterClient, its errors named; a moved slot re-reads the map."""
        with self._pool.connection() as cluster:
            try:
                return work(cluster)
            except _ERRORS as exc:
                if isinstance(exc, DbplexError):
                    raise
                raise _cluster_error(self.source, cluster, exc, doing) from None

    def _pipelined(self, doing: str, commands: list[Command]) -> list[Any]:
        """``commands`` (each naming one key, its second word) in one pipeline, or on a cluster one per
        master serving their keys, run in the order of each master's first command (a retirement's
        ``DEL`` of the bucket before the ``ZREM`` from the registry); the replies in their order."""
        if not self.cluster:
            return self._run(doing, lambda client: _pipeline(client, commands))

        def spread(cluster: ClusterClient) -> list[Any]:
            by_node: dict[str, list[int]] = {}
            for number, command in enumerate(commands):
                by_node.setdefault(cluster.node_for(command[1]), []).append(number)
            replies: list[Any] = [None] * len(commands)
            for node, numbers in by_node.items():
                part = [commands[n] for n in numbers]
                found = _on_master(cluster, partial(_pipeline, commands=part), node=node)
                for number, reply in zip(numbers, found, strict=True):
                    replies[number] = reply
            return replies

        return self._on_cluster(doing, spread)

    def _lock_connection(self, key: str) -> Callable[[], AbstractContextManager[redis.Redis]]:
        """Checkouts of the admin pool for a lock on ``key``: on a cluster, of the master serving it."""
        if not self.cluster:
            return self._admin.connection

        @contextmanager
        def connection() -> Iterator[redis.Redis]:
            with self._admin.connection() as cluster, cluster.client(key) as client:
                yield client

        return connection

    # -- protocol ---------------------------------------------------------------------------------

    def validate(self, spec: PartitionSpec) -> list[str]:
        return keys.problems(spec)

    def lock(self, spec: PartitionSpec, owner: LockOwner) -> RedisLock:
        """``SET <prefix>dbplex_partition_lock:<target> <token> NX PX``, the migration lock's code, on
        a connection of the admin pool held while the lock is (on a cluster, of the key's master)."""
        key = f"{self.prefix}dbplex_partition_lock:{spec.target}"
        return RedisLock(
            self.source,
            key,
            owner,
            LockSettings(ttl=LOCK_TTL),
            self._lock_connection(key),
            moved=self._refresh_admin if self.cluster else None,
        )

    def inspect(self, spec: PartitionSpec, *, now: datetime | None = None) -> Inventory:
        """The registry's partitions; without a registry (lost, or data written before the first
        ``maintain``), the buckets ``SCAN`` finds, with a ``setup`` that registers them again.
        Each bucket's rows and TTL; nothing here depends on the clock (``now`` is accepted for
        the protocol: a bucket's TTL is a function of its range alone)."""
        partitions = self._registered(spec)
        found_by_scan: list[Partition] = []
        if not partitions:
            labels: set[str] = set()
            for key in self._scan(spec):
                label = keys.label_of(spec, _text(key), self.prefix)
                if label is not None and label != keys.REGISTRY:
                    labels.add(label)
            partitions = found_by_scan = _partitions(spec, labels)
        names = [keys.bucket(spec, p, self.prefix) for p in partitions]

        sizes = [(command, name) for name in names for command in ("ZCARD", "PEXPIRETIME")]
        replies = self._pipelined("reading bucket sizes", sizes) if names else []
        inventory = Inventory()
        stale: list[Partition] = []
        for index, partition in enumerate(partitions):
            rows, expiry = replies[2 * index], replies[2 * index + 1]
            inventory.partitions.append(Existing(partition, rows=int(rows)))
            wanted = keys.expiry_ms(spec, partition)
            if rows and wanted is not None and expiry != wanted:
                stale.append(partition)
        if found_by_scan:
            # rendered already: queries read the registry alone (`listing`), so it must list them
            register = [keys.create_commands(spec, p, self.prefix)[0] for p in found_by_scan]
            inventory.actions.append(
                Action("setup", None, f"{len(register)} bucket(s) missing from the registry", payload=register)
            )
        if stale:
            inventory.actions.append(
                Action("setup", None, f"{len(stale)} bucket(s) without the expiry retention gives them", payload=stale)
            )
        if spec.strategy == "range" and not spec.is_time_range:
            inventory.highest = self._highest(spec, [e for e in inventory.partitions if e.rows])
        inventory.details["registry"] = keys.registry(spec, self.prefix)
        if spec.retention:
            inventory.details["expiry"] = "each bucket expires when its whole range is past the retention window"
        return inventory

    def listing(self, spec: PartitionSpec) -> Inventory:
        """The registry's partitions, for queries: one ``ZRANGE``, no ``SCAN``, no per-bucket reads.
        An empty or lost registry lists nothing until ``maintain`` registers the buckets again
        (``inspect`` finds them by ``SCAN`` and proposes that)."""
        name = keys.registry(spec, self.prefix)
        return listed(spec, name, self._run(f"reading {name}", lambda client: list(client.zrange(name, 0, -1)), name))

    def render(self, spec: PartitionSpec, action: Action) -> Action:
        commands = self._commands(spec, action)
        return replace(action, commands=[keys.text(c) for c in commands], payload=commands)

    def apply(self, spec: PartitionSpec, action: Action) -> None:
        self._pipelined(f"{action.kind} on {spec.target}", self._commands(spec, action))

    def insert(self, spec: PartitionSpec, rows: Iterable[dict[str, Any]], *, now: datetime | None = None) -> int:
        """Add rows to their buckets (refusing them all if one has no partition, or is past the
        window at ``now``, else the clock); returns how many rows were new (an identical row
        already there is not added twice)."""
        routed = self._route(spec, list(rows), now)

        if not routed:
            return 0
        commands: list[Command] = []
        zadds: list[int] = []  # which replies are ZADD's (the others are PEXPIREAT's)
        for partition, members in routed.items():
            name = keys.bucket(spec, partition, self.prefix)
            zadds.append(len(commands))
            scored = {keys.encode(row): keys.score(row.get(spec.key)) for row in members}
            commands.append(("ZADD", name, *(part for member, score in scored.items() for part in (score, member))))
            expiry = keys.expiry_ms(spec, partition)
            if expiry is not None:
                commands.append(("PEXPIREAT", name, expiry))
        replies = self._pipelined(f"writing {spec.target}", commands)
        return sum(int(replies[i]) for i in zadds)

    def fetch(self, spec: PartitionSpec, partition: Partition, query: PartitionQuery) -> list[dict[str, Any]]:
        """The bucket's rows in the key's score range, filtered, ordered and limited here."""
        name = keys.bucket(spec, partition, self.prefix)
        low, high = keys.score_range(spec, query.where)
        members = self._run(f"reading {name}", lambda client: client.zrangebyscore(name, low, high), name)
        return bucket_rows(members, query)

    def remainder(self, spec: PartitionSpec, value: Any) -> int | None:
        """The hash bucket of a key value, for pruning; None when ``colocate`` (not the key) picks it."""
        return None if spec.colocate else keys.remainder(spec, value)

    def explain(self, spec: PartitionSpec, query: PartitionQuery) -> str | None:
        return None

    def close(self) -> None:
        """Nothing to close: every connection is the hub's pools'."""

    # -- helpers ----------------------------------------------------------------------------------

    def _highest(self, spec: PartitionSpec, filled: list[Existing]) -> int | None:
        """Numeric ranges: the largest key, the top score of the highest bucket holding rows."""
        if not filled:
            return None
        name = keys.bucket(spec, filled[-1].partition, self.prefix)
        top = self._run(f"reading {name}", lambda client: client.zrevrange(name, 0, 0, withscores=True), name)
        return int(top[0][1]) if top else None

    def _registered(self, spec: PartitionSpec) -> list[Partition]:
        """The partitions the registry lists, in registry order."""
        name = keys.registry(spec, self.prefix)
        found = self._run(f"reading {name}", lambda client: list(client.zrange(name, 0, -1)), name)
        return registered(spec, found)

    def _scan(self, spec: PartitionSpec) -> list[Any]:
        """The keys of the family: ``SCAN`` of the server, or of every master of a cluster."""
        pattern = keys.family_pattern(spec, self.prefix)

        def scan(client: redis.Redis) -> list[Any]:
            return list(client.scan_iter(match=pattern, count=1000))

        if not self.cluster:
            return self._run(f"scanning {pattern}", scan)
        return self._on_cluster(
            f"scanning {pattern}",
            lambda cluster: [key for node in cluster.masters() for key in _on_master(cluster, scan, node=node)],
        )

    def _refresh_admin(self) -> None:
        """Read the admin pool's slot map again (the lock key's slot moved)."""
        with self._admin.connection() as cluster:
            cluster.pool.refresh(force=True)

    def _commands(self, spec: PartitionSpec, action: Action) -> list[Command]:
        commands = rendered_commands(action, tuple)
        if commands:
            return commands
        if action.kind == "create" and action.partition is not None:
            return keys.create_commands(spec, action.partition, self.prefix)
        if action.kind == "retire" and action.partition is not None:
            return keys.retire_commands(spec, action.partition, self.prefix)
        if action.kind == "setup" and isinstance(action.payload, list):
            return [
                command
                for partition in action.payload
                if isinstance(partition, Partition)
                for command in keys.create_commands(spec, partition, self.prefix)[1:]
            ]
        raise PlanError(spec.label, [f"Redis has no {action.kind!r} action here"])

    def _route(self, spec: PartitionSpec, rows: list[Row], now: datetime | None = None) -> dict[Partition, list[Row]]:
        registered = {p.label for p in self._registered(spec)}
        moment = utc(now) if now is not None else datetime.now(timezone.utc)
        now_ms = keys.epoch_ms(moment)
        routed: dict[Partition, list[Row]] = defaultdict(list)
        hashes = {p.remainder: p for p in fixed_partitions(spec) if p.kind == "hash"}
        default = next((p for p in fixed_partitions(spec) if p.kind == "default"), None)
        for row in rows:
            value = row.get(spec.key)
            partition = hashes[keys.row_remainder(spec, row)] if hashes else partition_of(spec, value)
            if (partition is None or partition.label not in registered) and default is not None:
                partition = default
            if partition is None or partition.label not in registered:
                where = (
                    f" (bucket {partition.label} does not exist: run `dbplex partition maintain`)" if partition else ""
                )
                raise KeyOutOfRange(
                    f"partitions {spec.label!r}: no partition takes {spec.key} = {value!r}{where}; no row was written"
                )
            expiry = keys.expiry_ms(spec, partition)
            if expiry is not None and expiry <= now_ms:
                raise KeyOutOfRange(
                    f"partitions {spec.label!r}: {spec.key} = {value!r} is past the retention window "
                    f"({spec.retention}) at {moment.isoformat()}; no row was written"
                )
            routed[partition].append(row)
        return routed


def _on_master(
    cluster: ClusterClient, action: Callable[[redis.Redis], T], key: Any = None, node: str | None = None
) -> T:
    """``action`` on a connection of the master serving ``key`` (or of ``node``)."""
    with cluster.client(key, node=node) as client:
        return action(client)


def _pipeline(client: redis.Redis, commands: list[Command]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    return list(pipe.execute())


def _cluster_error(source: Source, cluster: ClusterClient, exc: BaseException, doing: str) -> DbplexError:
    """A redis-py error on a cluster node while ``doing`` something, as a dbplex error naming the source:
    a node or slot that cannot answer (``CLUSTERDOWN`` included) is unavailable; a slot that moved
    (``MOVED``, ``ASK``, ``TRYAGAIN``: maintenance follows no redirection) re-reads the slot map and
    fails the step, to be run again; another error reply is a query error."""
    reason = scrub(str(exc))
    kind = redirection(exc)
    if kind in MOVED:
        cluster.pool.refresh(force=True)
        return QueryError(
            f"source {source.name!r}: {doing}: a hash slot moved ({kind} {reason}); "
            "the slot map was read again: run it again once any resharding is done"
        )
    if kind == "CLUSTERDOWN" or isinstance(
        exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.ClusterError)
    ):
        return RedisSourceUnavailable(f"source {source.name!r}: {doing}: {reason}")
    if isinstance(exc, redis.exceptions.ResponseError):
        return QueryError(f"source {source.name!r}: {doing}: {reason}")
    return OpError(f"source {source.name!r}: {doing}: {reason}")


def listed(spec: PartitionSpec, registry: str, members: Iterable[Any]) -> Inventory:
    """The inventory a query needs from the members of the registry ``registry`` (``ZRANGE``)."""
    inventory = Inventory(partitions=[Existing(p) for p in registered(spec, members)])
    inventory.details["registry"] = registry
    return inventory


def registered(spec: PartitionSpec, members: Iterable[Any]) -> list[Partition]:
    """The partitions the registry's members name, in registry order."""
    return _partitions(spec, {_text(m) for m in members})


def bucket_rows(members: Iterable[Any], query: PartitionQuery) -> list[dict[str, Any]]:
    """One bucket's members (``ZRANGEBYSCORE`` of the key's score range) as the query's rows:
    filtered, ordered and limited here, as the core orders them."""
    rows = [row for row in map(keys.decode, members) if matches(row, query.where)]
    rows = merge([rows], query)
    if query.fields is not None:
        rows = [{f: row[f] for f in query.fields if f in row} for row in rows]
    return rows


def _partitions(spec: PartitionSpec, labels: Iterable[str]) -> list[Partition]:
    """The partitions of ``spec`` with these labels (others are not partitions), in registry order."""
    found = (from_label(spec, label) for label in labels)
    return sorted((p for p in found if p is not None), key=keys.registry_score)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
