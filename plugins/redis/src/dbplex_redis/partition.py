"""Redis's :class:`~dbplex.partition.Partitioner`: time-bucketed and hash-tagged sorted sets.

Keys, members, scores and commands come from :mod:`dbplex_redis.partition_keys` (which says
how they are laid out); this module reads the registry and the buckets, sends the commands and
reads and writes rows. Keys start with the source's ``prefix``, like the record ops' keys. It
has a client of its own (one connection), opened on first need.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import redis
from redis.connection import BlockingConnectionPool

from dbplex.backends import Source
from dbplex.migrate.locking import LockOwner, LockSettings
from dbplex.partition.errors import KeyOutOfRange, PlanError
from dbplex.partition.interval import utc
from dbplex.partition.layout import fixed_partitions, partition_for
from dbplex.partition.model import Action, Existing, Inventory, Partition
from dbplex.partition.naming import from_label
from dbplex.partition.query import PartitionQuery
from dbplex.partition.rowfilter import matches
from dbplex.partition.scatter import merge
from dbplex.partition.spec import PartitionSpec
from dbplex.pool import PoolCounters
from dbplex_redis import partition_keys as keys
from dbplex_redis.migrate import translate
from dbplex_redis.migrate_lock import RedisLock
from dbplex_redis.pool import connection_kwargs

Row = dict[str, Any]
Command = tuple[Any, ...]
#: a maintenance lock lasts this long without a heartbeat (the core renews it while it runs).
LOCK_TTL = 60.0
_ERRORS = (redis.exceptions.RedisError,)
#: connections: one per partition the core fetches at once (its MAX_THREADS), one for maintenance.
POOL_SIZE = 9


class RedisPartitioner:
    """The partitioning backend of one Redis source."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.prefix: str = source.options.prefix
        self._client: redis.Redis | None = None

    @property
    def client(self) -> redis.Redis:
        """A client over a small blocking pool: pipelines and the core's parallel fetches each borrow one."""
        if self._client is None:
            kwargs = connection_kwargs(self.source, PoolCounters())
            pool = BlockingConnectionPool(  # type: ignore[no-untyped-call]
                max_connections=POOL_SIZE, timeout=self.source.config.pool.timeout, **kwargs
            )
            self._client = redis.Redis(connection_pool=pool)
            self._client.auto_close_connection_pool = True
        return self._client

    def _run(self, doing: str, action: Callable[[redis.Redis], Any]) -> Any:
        client = self.client
        try:
            return action(client)
        except _ERRORS as exc:
            raise translate(self.source, client, exc, doing) from exc

    # -- protocol ---------------------------------------------------------------------------------

    def validate(self, spec: PartitionSpec) -> list[str]:
        return keys.problems(spec)

    def lock(self, spec: PartitionSpec, owner: LockOwner) -> RedisLock:
        """``SET <prefix>dbplex_partition_lock:<target> <token> NX PX``, the migration lock's code."""
        key = f"{self.prefix}dbplex_partition_lock:{spec.target}"
        return RedisLock(self.source, key, owner, LockSettings(ttl=LOCK_TTL))

    def inspect(self, spec: PartitionSpec) -> Inventory:
        """The registry's partitions; without a registry (lost, or data written before the first
        ``maintain``), the buckets ``SCAN`` finds. Queries inspect too, so a whole-keyspace ``SCAN``
        is kept for that case."""
        labels = {_text(m) for m in self._run(f"reading {keys.registry(spec, self.prefix)}", self._registry(spec))}
        if not labels:
            for key in self._run(f"scanning {keys.family_pattern(spec, self.prefix)}", self._scan(spec)):
                label = keys.label_of(spec, _text(key), self.prefix)
                if label is not None and label != keys.REGISTRY:
                    labels.add(label)
        partitions = sorted(
            (p for p in (from_label(spec, label) for label in labels) if p is not None),
            key=lambda p: keys.registry_score(p),
        )
        names = [keys.bucket(spec, p, self.prefix) for p in partitions]

        def sizes(client: redis.Redis) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.zcard(name)
                pipe.pexpiretime(name)
            return list(pipe.execute())

        replies = self._run("reading bucket sizes", sizes) if names else []
        inventory = Inventory()
        stale: list[Partition] = []
        for index, partition in enumerate(partitions):
            rows, expiry = replies[2 * index], replies[2 * index + 1]
            inventory.partitions.append(Existing(partition, rows=int(rows)))
            wanted = keys.expiry_ms(spec, partition)
            if rows and wanted is not None and expiry != wanted:
                stale.append(partition)
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

    def render(self, spec: PartitionSpec, action: Action) -> Action:
        commands = self._commands(spec, action)
        return replace(action, commands=[keys.text(c) for c in commands], payload=commands)

    def apply(self, spec: PartitionSpec, action: Action) -> None:
        commands = self._commands(spec, action)

        def send(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)  # type: ignore[no-untyped-call]
            pipe.execute()

        self._run(f"{action.kind} on {spec.target}", send)

    def insert(self, spec: PartitionSpec, rows: Iterable[dict[str, Any]]) -> int:
        """Add rows to their buckets (refusing them all if one has no partition); returns how many
        rows were new (an identical row already there is not added twice)."""
        routed = self._route(spec, list(rows))

        def write(client: redis.Redis) -> int:
            pipe = client.pipeline(transaction=False)
            for partition, members in routed.items():
                name = keys.bucket(spec, partition, self.prefix)
                pipe.zadd(name, {keys.encode(row): keys.score(row.get(spec.key)) for row in members})
                expiry = keys.expiry_ms(spec, partition)
                if expiry is not None:
                    pipe.pexpireat(name, expiry)
            replies = pipe.execute()
            added = replies[0::2] if any(keys.expiry_ms(spec, p) is not None for p in routed) else replies
            return sum(int(r) for r in added)

        return int(self._run(f"writing {spec.target}", write)) if routed else 0

    def fetch(self, spec: PartitionSpec, partition: Partition, query: PartitionQuery) -> list[dict[str, Any]]:
        """The bucket's rows in the key's score range, filtered, ordered and limited here."""
        name = keys.bucket(spec, partition, self.prefix)
        low, high = keys.score_range(spec, query.where)
        members = self._run(f"reading {name}", lambda client: client.zrangebyscore(name, low, high))
        rows = [row for row in map(keys.decode, members) if matches(row, query.where)]
        rows = merge([rows], query)
        if query.fields is not None:
            rows = [{f: row[f] for f in query.fields if f in row} for row in rows]
        return rows

    def remainder(self, spec: PartitionSpec, value: Any) -> int | None:
        """The hash bucket of a key value, for pruning; None when ``colocate`` (not the key) picks it."""
        return None if spec.colocate else keys.remainder(spec, value)

    def explain(self, spec: PartitionSpec, query: PartitionQuery) -> str | None:
        return None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- helpers ----------------------------------------------------------------------------------

    def _highest(self, spec: PartitionSpec, filled: list[Existing]) -> int | None:
        """Numeric ranges: the largest key, the top score of the highest bucket holding rows."""
        if not filled:
            return None
        name = keys.bucket(spec, filled[-1].partition, self.prefix)
        top = self._run(f"reading {name}", lambda client: client.zrevrange(name, 0, 0, withscores=True))
        return int(top[0][1]) if top else None

    def _registry(self, spec: PartitionSpec) -> Callable[[redis.Redis], list[Any]]:
        return lambda client: list(client.zrange(keys.registry(spec, self.prefix), 0, -1))

    def _scan(self, spec: PartitionSpec) -> Callable[[redis.Redis], list[Any]]:
        return lambda client: list(client.scan_iter(match=keys.family_pattern(spec, self.prefix), count=1000))

    def _commands(self, spec: PartitionSpec, action: Action) -> list[Command]:
        if _commands_payload(action.payload) and action.payload:  # rendered already
            return list(action.payload)
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

    def _route(self, spec: PartitionSpec, rows: list[Row]) -> dict[Partition, list[Row]]:
        registered = {_text(m) for m in self._run("reading the registry", self._registry(spec))}
        now_ms = time.time_ns() // 1_000_000
        routed: dict[Partition, list[Row]] = defaultdict(list)
        hashes = {p.remainder: p for p in fixed_partitions(spec) if p.kind == "hash"}
        default = next((p for p in fixed_partitions(spec) if p.kind == "default"), None)
        for row in rows:
            value = row.get(spec.key)
            partition = hashes[keys.remainder(spec, row)] if hashes else _partition_of(spec, value)
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
                    f"({spec.retention}); no row was written"
                )
            routed[partition].append(row)
        return routed


def _partition_of(spec: PartitionSpec, value: Any) -> Partition | None:
    if spec.is_time_range:
        return partition_for(spec, utc(value)) if isinstance(value, datetime) else None
    if spec.strategy == "range" and (not isinstance(value, int) or isinstance(value, bool)):
        return None
    return partition_for(spec, value)


def _commands_payload(payload: Any) -> bool:
    return isinstance(payload, list) and all(isinstance(c, tuple) for c in payload)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
