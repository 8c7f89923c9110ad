"""``dbplex analyze`` for Redis and Redis Cluster: the server's counters and settings, and the key families.

Server checks read ``INFO stats`` and ``INFO memory`` (and ``CONFIG GET save appendonly`` when
the role asks for persistence) in one round trip per server: the keyspace hit ratio,
fragmentation, memory against ``maxmemory``, the eviction policy and persistence against the
source's ``role``. Family checks walk each configured pattern with ``SCAN MATCH`` (never
``KEYS``) up to ``sample`` keys and ask ``TTL`` and ``MEMORY USAGE`` of them in pipelines.
A cluster is analysed master by master (the server checks name the node; the families add up
over the masters). Nothing is written and no setting is changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.exceptions

from dbplex.analyze.model import Finding, MigrationFile, ProposedIndex, Severity
from dbplex.backends import Source
from dbplex.config import AnalyzeSourceConfig
from dbplex.errors import UnsupportedError
from dbplex.pool import Pool
from dbplex_redis.errors import translate

#: a hit ratio below this, over at least MIN_LOOKUPS lookups, is a finding.
HIT_RATIO = 0.8
MIN_LOOKUPS = 1000
#: fragmentation is a finding above this ratio when it also wastes at least FRAGMENTED_BYTES.
FRAGMENTATION = 1.5
FRAGMENTED_BYTES = 64 * 1024 * 1024
#: used memory at this share of ``maxmemory`` is a finding when the policy cannot free any key.
NEAR_LIMIT = 0.9
#: a key at least this big (``MEMORY USAGE``) is a finding: it blocks the server while it is
#: read, written or deleted whole, and cannot be spread over a cluster.
BIG_KEY_BYTES = 1024 * 1024
#: keys cited by name in a finding's evidence.
EXAMPLES = 5
#: commands per pipeline round trip.
_BATCH = 500
_PERSISTENT_ROLES = frozenset({"session", "store", "queue"})


def _text(value: Any) -> str:
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)


def _config(reply: dict[Any, Any]) -> dict[str, str]:
    return {_text(key): _text(value) for key, value in reply.items()}


@dataclass
class Server:
    """What one server reported: ``INFO stats``, ``INFO memory`` and, if asked, its persistence settings."""

    node: str | None
    stats: dict[str, Any]
    memory: dict[str, Any]
    #: ``save`` and ``appendonly``; None when not asked, an exception when refused.
    persistence: dict[str, str] | Exception | None = None


@dataclass
class Family:
    """What the keys of one pattern looked like, over every server scanned."""

    pattern: str
    scanned: int = 0
    #: whether SCAN went through the whole keyspace (False: stopped at ``sample`` keys).
    complete: bool = True
    without_ttl: list[str] = field(default_factory=list)
    #: (bytes, key) of the keys at least BIG_KEY_BYTES.
    big: list[tuple[int, str]] = field(default_factory=list)


class RedisAnalyzer:
    """The analysis backend of one Redis or Redis Cluster source."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self._admin = admin

    def findings(self, settings: AnalyzeSourceConfig) -> list[Finding]:
        found: list[Finding] = []
        families = [Family(p) for p in dict.fromkeys([*settings.ttl_families, *settings.families])]
        with self._servers() as servers:
            for node, client in servers:
                server = self._ask(client, node, settings)
                found += self._server_findings(server, settings)
                for family in families:
                    self._scan(client, family, settings, family.pattern in settings.ttl_families)
        for family in families:
            found += self._family_findings(family, settings)
        return found

    @contextmanager
    def _servers(self) -> Iterator[list[tuple[str | None, redis.Redis]]]:
        """The server of a plain source (node None), or every master of a cluster, each checked out."""
        with self._admin.connection() as client:
            if self.source.backend != "redis_cluster":
                yield [(None, client)]
                return
            cluster = client.pool  # a ClusterClient: the slot map and the masters' pools
            cluster.refresh()
            with ExitStack() as stack:
                yield [
                    (node.name, stack.enter_context(cluster.pool_of(node).connection()))
                    for node in cluster.slot_map.slot_counts()
                ]

    def _run(self, client: redis.Redis, doing: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except redis.exceptions.RedisError as exc:
            raise translate(self.source, client, exc, doing) from exc

    def _ask(self, client: redis.Redis, node: str | None, settings: AnalyzeSourceConfig) -> Server:
        pipe = client.pipeline(transaction=False)
        pipe.info("stats")
        pipe.info("memory")
        persistence = settings.role in _PERSISTENT_ROLES
        if persistence:
            pipe.config_get("save")
            pipe.config_get("appendonly")
        replies = self._run(client, "reading INFO", pipe.execute, raise_on_error=False)
        for reply in replies[:2]:
            if isinstance(reply, Exception):
                raise translate(self.source, client, reply, "reading INFO")
        server = Server(node, replies[0], replies[1])
        if persistence:
            refused = next((r for r in replies[2:] if isinstance(r, Exception)), None)
            server.persistence = refused or {**_config(replies[2]), **_config(replies[3])}
        return server

    # -- server checks ----------------------------------------------------------------------------

    def _finding(
        self, server: Server, code: str, severity: Severity, summary: str, action: str, **evidence: Any
    ) -> Finding:
        if server.node is not None:
            evidence["node"] = server.node
        return Finding(
            source=self.source.name,
            code=code,
            severity=severity,
            subject=f"node {server.node}" if server.node else "server",
            summary=summary,
            action=action,
            evidence=evidence,
        )

    def _server_findings(self, server: Server, settings: AnalyzeSourceConfig) -> list[Finding]:
        return [
            finding
            for check in (self._hit_ratio, self._fragmentation, self._near_limit, self._eviction, self._persistence)
            if (finding := check(server, settings)) is not None
        ]

    def _hit_ratio(self, server: Server, settings: AnalyzeSourceConfig) -> Finding | None:
        hits, misses = int(server.stats.get("keyspace_hits", 0)), int(server.stats.get("keyspace_misses", 0))
        lookups = hits + misses
        if lookups < MIN_LOOKUPS or hits / lookups >= HIT_RATIO:
            return None
        ratio = round(hits / lookups, 4)
        return self._finding(
            server,
            "redis.hit_ratio",
            Severity.WARNING,
            f"{ratio:.1%} of key lookups found their key ({hits} hits, {misses} misses since the server "
            f"started or CONFIG RESETSTAT), below {HIT_RATIO:.0%}",
            "check the cache's TTLs and eviction (keys evicted or expiring before they are read again), "
            "and reads of keys that are never written",
            keyspace_hits=hits,
            keyspace_misses=misses,
            hit_ratio=ratio,
            threshold=HIT_RATIO,
            evicted_keys=int(server.stats.get("evicted_keys", 0)),
            expired_keys=int(server.stats.get("expired_keys", 0)),
        )

    def _fragmentation(self, server: Server, settings: AnalyzeSourceConfig) -> Finding | None:
        ratio = float(server.memory.get("mem_fragmentation_ratio", 0))
        used, rss = int(server.memory.get("used_memory", 0)), int(server.memory.get("used_memory_rss", 0))
        wasted = int(server.memory.get("mem_fragmentation_bytes", rss - used))
        if ratio <= FRAGMENTATION or wasted < FRAGMENTED_BYTES:
            return None
        return self._finding(
            server,
            "redis.fragmentation",
            Severity.WARNING,
            f"the server holds {rss} bytes of RAM for {used} bytes of data (fragmentation {ratio:g})",
            "enable active defragmentation (CONFIG SET activedefrag yes, jemalloc builds) or restart the "
            "server in a maintenance window",
            mem_fragmentation_ratio=ratio,
            used_memory=used,
            used_memory_rss=rss,
            mem_fragmentation_bytes=wasted,
        )

    def _near_limit(self, server: Server, settings: AnalyzeSourceConfig) -> Finding | None:
        limit, used = int(server.memory.get("maxmemory", 0)), int(server.memory.get("used_memory", 0))
        policy = _text(server.memory.get("maxmemory_policy", ""))
        if not limit or used < NEAR_LIMIT * limit or policy.startswith("allkeys-"):
            return None
        return self._finding(
            server,
            "redis.memory_near_limit",
            Severity.CRITICAL if used >= limit else Severity.WARNING,
            f"used memory is {used / limit:.0%} of maxmemory ({used} of {limit} bytes) and the "
            f"{policy} policy {'frees only keys with a TTL' if policy.startswith('volatile-') else 'frees nothing'}: "
            "writes fail with OOM when it is full",
            "raise maxmemory, delete or expire keys, or move data elsewhere",
            used_memory=used,
            maxmemory=limit,
            maxmemory_policy=policy,
        )

    def _eviction(self, server: Server, settings: AnalyzeSourceConfig) -> Finding | None:
        policy = _text(server.memory.get("maxmemory_policy", ""))
        limit = int(server.memory.get("maxmemory", 0))
        if settings.role is None:
            return None
        if settings.role == "cache":
            if policy.startswith("allkeys-") and limit:
                return None
            wrong = f"policy {policy}" if not policy.startswith("allkeys-") else "no maxmemory"
            action = "set maxmemory and maxmemory-policy allkeys-lru (or allkeys-lfu), so that a full cache evicts"
        else:
            if policy == "noeviction":
                return None
            wrong = f"policy {policy}"
            action = f"CONFIG SET maxmemory-policy noeviction (and in redis.conf): a {settings.role} must not lose keys"
        return self._finding(
            server,
            "redis.eviction_policy",
            Severity.WARNING,
            f"{wrong} does not suit role {settings.role}",
            action,
            role=settings.role,
            maxmemory_policy=policy,
            maxmemory=limit,
        )

    def _persistence(self, server: Server, settings: AnalyzeSourceConfig) -> Finding | None:
        state = server.persistence
        if state is None:
            return None
        if isinstance(state, Exception):
            return self._finding(
                server,
                "redis.not_available",
                Severity.INFO,
                f"persistence not checked: CONFIG GET was refused ({state})",
                "allow CONFIG GET to the source's user (ACL +config|get), or check save/appendonly by hand",
            )
        save, aof = state.get("save", ""), state.get("appendonly", "no")
        if save.strip() or aof == "yes":
            return None
        return self._finding(
            server,
            "redis.persistence",
            Severity.WARNING,
            f"neither RDB snapshots (save is empty) nor the AOF (appendonly no) are on: a restart loses "
            f"every key of this {settings.role}",
            "CONFIG SET appendonly yes (and in redis.conf), or configure save points",
            role=settings.role,
            save=save,
            appendonly=aof,
        )

    # -- key families -----------------------------------------------------------------------------

    def _scan(self, client: redis.Redis, family: Family, settings: AnalyzeSourceConfig, ttl: bool) -> None:
        """SCAN ``family``'s pattern on one server up to the family's remaining sample, then pipelined
        TTL (a TTL family) and MEMORY USAGE of the keys found."""
        if family.scanned >= settings.sample:
            family.complete = False
            return
        keys: list[bytes] = []
        cursor: Any = 0
        while True:
            cursor, batch = self._run(
                client, f"scanning {family.pattern}", client.scan, cursor, match=family.pattern, count=1000
            )
            keys += batch
            if int(cursor) == 0:
                break
            if family.scanned + len(keys) >= settings.sample:
                family.complete = False
                break
        if len(keys) > settings.sample - family.scanned:
            family.complete = False
            keys = keys[: settings.sample - family.scanned]
        family.scanned += len(keys)
        for start in range(0, len(keys), _BATCH):
            self._measure(client, family, keys[start : start + _BATCH], ttl)

    def _measure(self, client: redis.Redis, family: Family, keys: Sequence[bytes], ttl: bool) -> None:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            if ttl:
                pipe.ttl(key)
            pipe.memory_usage(key)
        replies = self._run(client, f"measuring {family.pattern}", pipe.execute, raise_on_error=False)
        per_key = 2 if ttl else 1
        for index, key in enumerate(keys):
            size = replies[index * per_key + per_key - 1]
            if ttl and replies[index * per_key] == -1:
                family.without_ttl.append(_text(key))
            if isinstance(size, Exception):
                raise translate(self.source, client, size, f"measuring {family.pattern}")
            if size is not None and int(size) >= BIG_KEY_BYTES:
                family.big.append((int(size), _text(key)))

    def _family_findings(self, family: Family, settings: AnalyzeSourceConfig) -> list[Finding]:
        found = []
        scope = {"scanned": family.scanned, "complete": family.complete}
        if family.without_ttl:
            found.append(
                Finding(
                    source=self.source.name,
                    code="redis.ttl_missing",
                    severity=Severity.WARNING,
                    subject=family.pattern,
                    summary=f"{len(family.without_ttl)} of {family.scanned} keys matching {family.pattern} have no TTL",
                    action="give them an expiry where they are written (SET ... EX, EXPIRE), and expire the "
                    "existing ones once",
                    evidence={
                        **scope,
                        "without_ttl": len(family.without_ttl),
                        "examples": family.without_ttl[:EXAMPLES],
                    },
                )
            )
        if family.big:
            biggest = sorted(family.big, reverse=True)[:EXAMPLES]
            found.append(
                Finding(
                    source=self.source.name,
                    code="redis.big_key",
                    severity=Severity.WARNING,
                    subject=family.pattern,
                    summary=f"{len(family.big)} keys matching {family.pattern} take {BIG_KEY_BYTES // 1024} KiB "
                    f"or more each (largest {biggest[0][0]} bytes)",
                    action="split them into smaller keys (a hash per item, or buckets), or store the value elsewhere",
                    evidence={
                        **scope,
                        "over_limit": len(family.big),
                        "limit_bytes": BIG_KEY_BYTES,
                        "largest": [{"key": key, "bytes": size} for size, key in biggest],
                    },
                )
            )
        return found

    def index_migration(self, index: ProposedIndex) -> MigrationFile:
        """Never called: Redis findings propose no index."""
        raise UnsupportedError(
            f"source {self.source.name!r}: Redis has no indexes to create; its findings propose none ({index.name})"
        )
