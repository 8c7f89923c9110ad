"""Configuration: one TOML file describing every source, read into msgspec Structs.

Lookup order: an explicit path (``--config``), ``$DBPLEX_CONFIG``, then ``./dbplex.toml``.
``${NAME}`` and ``${NAME:-default}`` in any string are replaced from the environment before
validation, so that secrets stay out of the file; a number field may be such a reference alone
(``max_size = "${POOL_MAX:-4}"``). Errors name the file and the field path.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import msgspec.inspect as mi

from dbplex import secrets
from dbplex.check.rules import Rule
from dbplex.errors import ConfigError
from dbplex.partition.spec import PartitionSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_FILE = "dbplex.toml"
ENV_VAR = "DBPLEX_CONFIG"

#: the longest duration any setting takes (a year): drivers turn durations into deadlines and
#: integer milliseconds, which ``inf`` or ``1e308`` would overflow.
MAX_SECONDS = 365 * 86400.0
Seconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]
Count = Annotated[int, msgspec.Meta(ge=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]


class PoolConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """How many connections a source keeps and how long callers wait for one."""

    #: connections kept open.
    min_size: Count = 1
    #: connections open at most.
    max_size: Annotated[int, msgspec.Meta(ge=1)] = 10
    #: seconds a caller waits for a free connection before :class:`~dbplex.errors.PoolTimeout`.
    timeout: Seconds = 5.0
    #: seconds an idle connection above ``min_size`` is kept.
    max_idle: Seconds = 300.0
    #: seconds after which a connection is replaced.
    max_lifetime: Seconds = 3600.0
    #: each connection's lifetime is ``max_lifetime`` shortened by a random fraction up to this,
    #: so connections opened together are not replaced together.
    lifetime_jitter: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.05
    #: callers allowed to wait for a connection at once; more fail at once with
    #: :class:`~dbplex.errors.PoolFull`. 0 = unbounded.
    max_waiting: Count = 0
    #: seconds between checks of idle connections (a server-closed one is replaced); 0 = off.
    keepalive: NonNegative = 60.0
    #: a connection held longer than this many seconds is logged with where it was taken,
    #: and counted as a leak; 0 = off (no cost on the checkout path).
    leak_threshold: NonNegative = 0.0
    #: seconds before the first reconnection attempt while the server is down; each delay is
    #: drawn from ``[d/2, d]``, ``d`` doubling up to ``reconnect_max``.
    reconnect_min: Seconds = 1.0
    #: the longest delay between reconnection attempts: it bounds how late a pool notices that
    #: its server is back.
    reconnect_max: Seconds = 2.0

    def __post_init__(self) -> None:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        if self.reconnect_min > self.reconnect_max:
            raise ValueError(
                f"reconnect_min ({self.reconnect_min:g}) must not exceed reconnect_max ({self.reconnect_max:g})"
            )


class BreakerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """When a replica is taken out of the read rotation, and when it is tried again."""

    #: consecutive failed reads (or checks) on a replica that open its breaker.
    failures: Annotated[int, msgspec.Meta(ge=1)] = 3
    #: seconds an open breaker waits before a health check may close it again.
    reset_after: Seconds = 2.0


class RoutingConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """How reads are spread over a source's replicas (used only when ``replicas`` is not empty)."""

    #: ``round_robin`` takes turns, ``least_used`` picks the replica with the fewest reads in
    #: flight, ``latency_window`` picks at random among those within ``latency_window`` ms of
    #: the fastest (by a moving average of read latency).
    strategy: Literal["round_robin", "least_used", "latency_window"] = "round_robin"
    #: ms within the fastest replica's moving-average latency that ``latency_window`` picks among.
    latency_window: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    #: seconds of replication lag beyond which a replica gets no reads.
    max_lag: Seconds = 10.0
    #: seconds between replication-lag checks of each replica.
    lag_check_interval: Seconds = 1.0
    #: seconds after a write during which reads in the same thread (or asyncio context) go to
    #: the primary, so they see that write; 0 turns this off.
    read_your_writes: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    breaker: BreakerConfig = BreakerConfig()


class SlowConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """When an operation of one source counts as slow, and how it is shown (``[sources.X.slow]``)."""

    #: an operation that takes at least this many milliseconds (pool wait not included) is logged
    #: on ``dbplex.slow`` and kept in ``hub.slow_operations()``; None (the default) = off, and then
    #: nothing wraps the source's operations.
    threshold_ms: Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS * 1000)] | None = None
    #: show operations without parameter values (keys, values, SQL literals and parameters, command
    #: arguments): names of tables, collections and fields stay. ``false`` shows them as they are.
    redact: bool = True


class SourceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One named endpoint. Its URL scheme picks the backend."""

    #: where the server is; credentials may be given as ``${VAR}`` references.
    url: str
    #: readiness depends only on required sources.
    required: bool = True
    #: seconds to wait for a new connection, including DNS, TCP and authentication.
    connect_timeout: Seconds = 5.0
    #: seconds an op may wait for the server's reply before it fails naming the source; None
    #: means the backend's default (PostgreSQL and MongoDB 30 s, Redis 5 s).
    operation_timeout: Seconds | None = None
    pool: PoolConfig = PoolConfig()
    #: backend-specific settings, validated by the backend (e.g. Redis ``prefix``).
    options: dict[str, Any] = {}
    #: URLs of read replicas of this source (same backend, same credentials rules); reads may go there.
    replicas: list[str] = []
    routing: RoutingConfig = RoutingConfig()
    #: slow operations: threshold and redaction (``[sources.X.slow]``).
    slow: SlowConfig = SlowConfig()

    def __post_init__(self) -> None:
        scheme = self.scheme
        for url in self.replicas:
            other = url.partition("://")[0].lower() if "://" in url else ""
            if other != scheme:
                raise ValueError(
                    f"replica {secrets.redact_url(url)!r} must use the primary's URL scheme {scheme + '://'!r}"
                )

    @property
    def scheme(self) -> str:
        return self.url.partition("://")[0].lower() if "://" in self.url else ""

    def __repr__(self) -> str:
        replicas = f", replicas={[secrets.redact_url(url) for url in self.replicas]!r}" if self.replicas else ""
        return f"SourceConfig(url={secrets.redact_url(self.url)!r}, required={self.required}{replicas})"


class MigrationLockConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """How ``dbplex migrate`` waits for another run's lock (``--lock-wait`` and ``--lock-ttl`` override)."""

    #: seconds a run waits for each source's lock before giving up.
    wait: NonNegative = 60.0
    #: seconds a MongoDB or Redis lease outlives a run that died (renewed every ttl/3): how long
    #: the next run waits for a killed run's lock there. PostgreSQL's lock ends with its session.
    ttl: Annotated[float, msgspec.Meta(ge=1)] = 15.0


class MetricsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Operation and pool metrics (``[metrics]``); off by default, when nothing wraps an operation."""

    #: record operation durations, counts and errors per source (see docs/observability.md).
    enabled: bool = False
    #: also record into OpenTelemetry's global MeterProvider (needs ``opentelemetry-api``); opt-in
    #: because recording costs each operation even while no SDK is configured.
    otel: bool = False
    #: export the servers' resources (``dbplex.server.*``), read by health checks when collected.
    resources: bool = True
    #: seconds one reading of the servers' resources answers every collection (a scrape storm reads once).
    resources_interval: NonNegative = 5.0


class AnalyzeSourceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """What ``dbplex analyze`` should expect of one source (``[analyze.SOURCE]``)."""

    #: what the source is for: its eviction policy and persistence (Redis) are judged against it.
    role: Literal["cache", "session", "store", "queue"] | None = None
    #: key patterns whose every key must carry a TTL (Redis), e.g. ``["cache:*", "session:*"]``.
    ttl_families: list[str] = []
    #: key patterns to report the biggest keys of (Redis); the TTL families are always included.
    families: list[str] = []
    #: tables or collections smaller than this raise no sequential- or collection-scan finding.
    min_rows: Annotated[int, msgspec.Meta(ge=0)] = 1000
    #: keys or documents sampled where the server keeps no statistics (Redis keys, MongoDB documents).
    sample: Annotated[int, msgspec.Meta(ge=1)] = 1000
    #: the schemas to analyse (PostgreSQL); empty: every schema but the system ones.
    schemas: list[str] = []


class CachedTableConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One table whose ``Get`` results the read-through cache keeps (``[cache.tables."SOURCE.TABLE"]``)."""

    #: seconds an entry lives: the bound on staleness for writes made outside dbplex.
    ttl: Seconds = 300.0
    #: the cache keys' prefix in the store, before the record's key; None means
    #: ``cache:SOURCE:TABLE:``. ``"cache:teams:"`` puts the entries in the brief's ``cache:teams:*`` family.
    prefix: Annotated[str, msgspec.Meta(min_length=1)] | None = None

    def key_prefix(self, name: str) -> str:
        """The prefix of the entries of the table ``name`` (``SOURCE.TABLE``)."""
        source, _, table = name.partition(".")
        return self.prefix if self.prefix is not None else f"cache:{source}:{table}:"


class CacheConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The read-through cache (``[cache]``): off while ``tables`` is empty."""

    #: the Redis source holding the entries; required when ``tables`` names any.
    store: str | None = None
    #: the cached tables, keyed ``"SOURCE.TABLE"``.
    tables: dict[str, CachedTableConfig] = {}
    #: seconds a miss's fill lease lives: a reader that takes longer than this to read the
    #: source stores nothing (it never stores a stale value, whatever the timing).
    lease: Seconds = 10.0
    #: ``dbplex analyze`` reports a cached table whose hit ratio is below this...
    min_hit_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    #: ...once it has served at least this many reads.
    min_reads: Annotated[int, msgspec.Meta(ge=1)] = 100


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The whole configuration."""

    #: the sources (``[sources.NAME]``), by name.
    sources: dict[str, SourceConfig] = {}
    #: where ``dbplex migrate`` looks for migration folders (relative to the file).
    migrations: str | None = None
    #: the migration lock's wait and lease (``[migration_lock]``).
    migration_lock: MigrationLockConfig = MigrationLockConfig()
    #: partitioned tables, collections and key families (``[partitions.NAME]``), by name.
    partitions: dict[str, PartitionSpec] = {}
    #: operation and pool metrics (``[metrics]``).
    metrics: MetricsConfig = MetricsConfig()
    #: what ``dbplex analyze`` expects of each source (``[analyze.SOURCE]``); a source not named
    #: here is analysed with the defaults.
    analyze: dict[str, AnalyzeSourceConfig] = {}
    #: the read-through cache (``[cache]``); off unless it names tables.
    cache: CacheConfig = CacheConfig()
    #: data-quality rules ``dbplex check`` runs (``[checks.NAME]``), by name.
    checks: dict[str, Rule] = {}
    #: the file this was read from, if any; not a TOML key.
    path: str | None = None

    def __repr__(self) -> str:
        return f"Config(path={self.path!r}, sources={sorted(self.sources)})"


_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def _interpolate(value: Any, where: str, expected: mi.Type | None) -> Any:
    """``value`` with ``${...}`` replaced; ``expected`` is the type the value will be converted to.

    A string that is one reference and nothing else, in a field that takes a number and not a
    string, becomes that number: TOML strings are the only way to write a reference.
    """
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match["name"], match["default"]
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{where}: environment variable {name} is not set (use ${{{name}:-default}} for a default)"
            )

        text = _ENV_REF.sub(replace, value)
        number = _number_type(expected)
        if number is None or not _ENV_REF.fullmatch(value):
            return text
        try:
            return number(text)
        except ValueError:
            kind = "a whole number" if number is int else "a number"
            raise ConfigError(f"{where}: {value} gives {text!r}, which is not {kind}") from None
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}.{k}", _member_type(expected, k)) for k, v in value.items()}
    if isinstance(value, list):
        item = _member_type(expected, None)
        return [_interpolate(v, f"{where}[{i}]", item) for i, v in enumerate(value)]
    return value


def _unwrap(info: mi.Type | None) -> mi.Type | None:
    return _unwrap(info.type) if isinstance(info, mi.Metadata) else info


def _number_type(info: mi.Type | None) -> type[int] | type[float] | None:
    """``int`` or ``float`` if a field of this type takes that number and not a string, else None."""
    info = _unwrap(info)
    if isinstance(info, mi.UnionType):
        if any(isinstance(_unwrap(t), mi.StrType) for t in info.types):
            return None
        return next((n for n in map(_number_type, info.types) if n is not None), None)
    return int if isinstance(info, mi.IntType) else float if isinstance(info, mi.FloatType) else None


def _member_type(info: mi.Type | None, key: str | None) -> mi.Type | None:
    """The type of field or key ``key`` of a struct or dict (``None``: an item of a list)."""
    info = _unwrap(info)
    if isinstance(info, mi.UnionType):  # e.g. `X | None`: the one container type in it
        containers = [t for t in map(_unwrap, info.types) if not isinstance(t, mi.NoneType)]
        info = containers[0] if len(containers) == 1 else None
    if isinstance(info, mi.StructType) and key is not None:
        return next((f.type for f in info.fields if f.encode_name == key), None)
    if isinstance(info, mi.DictType) and key is not None:
        return info.value_type
    if isinstance(info, mi.ListType) and key is None:
        return info.item_type
    return None


_SOURCE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def field_path(error: msgspec.ValidationError, prefix: str = "") -> str:
    """msgspec's message with ``$`` replaced by the field path a user can find in the file."""
    text = str(error)
    if prefix:
        if " - at `" not in text:
            return f"{text} - at `{prefix}`"
        return text.replace("`$.", f"`{prefix}.").replace("`$`", f"`{prefix}`")
    return text.replace("`$.", "`").replace("`$`", "the top level")


def _named_tables(raw: Any, origin: str, section: str, noun: str) -> Iterator[tuple[str, Any]]:
    """The ``[SECTION.NAME]`` tables in ``raw``, one by one, each NAME checked: validating them one
    by one lets errors name the table (msgspec shows dict keys as ``[...]``)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: `{section}` must be a table of [{section}.NAME] tables")
    for name, value in raw.items():
        if not _SOURCE_NAME.fullmatch(name):
            raise ConfigError(
                f"{origin}: {noun} name {name!r} must start with a letter or _ and contain only letters, digits, _ and -"
            )
        yield name, value


def _convert_sources(raw: Any, origin: str) -> dict[str, SourceConfig]:
    """Validate sources one by one, so that errors name the source (msgspec shows dict keys as ``[...]``)."""
    converted = {}
    for name, value in _named_tables(raw, origin, "sources", "source"):
        try:
            converted[name] = msgspec.convert(value, SourceConfig)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{origin}: {field_path(exc, f'sources.{name}')}") from None
    return converted


def convert_partitions(
    raw: Any, origin: str, sources: dict[str, SourceConfig] | None = None
) -> dict[str, PartitionSpec]:
    """Validate ``[partitions.NAME]`` tables one by one, so that errors name the spec; with
    ``sources``, each spec's ``source`` must be one of them."""
    converted = {}
    for name, value in _named_tables(raw, origin, "partitions", "partition spec"):
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: `partitions.{name}` must be a table")
        try:
            spec = msgspec.convert({**value, "name": name}, PartitionSpec)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{origin}: {field_path(exc, f'partitions.{name}')}") from None
        if sources is not None and spec.source not in sources:
            known = ", ".join(sorted(sources)) or "none configured"
            raise ConfigError(
                f"{origin}: `partitions.{name}.source` is {spec.source!r}, which is not a configured source ({known})"
            )
        converted[name] = spec
    return converted


def _convert_cached_tables(data: dict[str, Any], origin: str) -> dict[str, CachedTableConfig]:
    """Take ``[cache.tables]`` out of ``data`` and validate it table by table, so that errors
    name the table (msgspec shows dict keys as ``[...]``)."""
    cache = data.get("cache")
    if not isinstance(cache, dict) or "tables" not in cache:
        return {}
    data["cache"] = {k: v for k, v in cache.items() if k != "tables"}
    raw = cache["tables"]
    if not isinstance(raw, dict):
        raise ConfigError(f'{origin}: `cache.tables` must be a table of [cache.tables."SOURCE.TABLE"] tables')
    converted = {}
    for name, value in raw.items():
        try:
            converted[name] = msgspec.convert(value, CachedTableConfig)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{origin}: {field_path(exc, f'cache.tables.{name}')}") from None
    return converted


def check_cache(cache: CacheConfig, sources: dict[str, SourceConfig], origin: str) -> None:
    """ConfigError unless ``[cache]`` names configured sources and tables that are identifiers."""
    known = ", ".join(sorted(sources)) or "none configured"
    if cache.store is not None and cache.store not in sources:
        raise ConfigError(f"{origin}: `cache.store` is {cache.store!r}, which is not a configured source ({known})")
    if cache.tables and cache.store is None:
        raise ConfigError(f"{origin}: `cache.store` is missing: name the Redis source that holds the cached entries")
    for name in cache.tables:
        source, _, table = name.partition(".")
        if source not in sources:
            raise ConfigError(
                f"{origin}: `cache.tables.{name}` must be named SOURCE.TABLE with a configured source ({known})"
            )
        if not _TABLE_NAME.fullmatch(table):
            raise ConfigError(
                f"{origin}: `cache.tables.{name}`: the table {table!r} must be an identifier of letters, digits and _"
            )
    prefixes = sorted((settings.key_prefix(name), name) for name, settings in cache.tables.items())
    for (first, first_name), (second, second_name) in itertools.pairwise(prefixes):
        if second.startswith(first):  # sorted: a prefix of another sorts right before it
            raise ConfigError(
                f"{origin}: `cache.tables.{second_name}.prefix` {second!r} starts with the prefix {first!r} of "
                f"`cache.tables.{first_name}`: their entries could share keys; give each table a prefix of its own"
            )


#: each rule kind's struct, so ``${ENV}`` in a number field of a rule becomes a number.
_RULE_TYPES: dict[str, type[Any]] = {
    str(mi.type_info(t).tag): t  # type: ignore[attr-defined]
    for t in typing.get_args(Rule)
}


def convert_checks(raw: Any, origin: str, sources: dict[str, SourceConfig] | None = None) -> dict[str, Rule]:
    """Validate ``[checks.NAME]`` tables one by one, so that errors name the rule; with
    ``sources``, every place a rule reads must be on one of them."""
    converted: dict[str, Rule] = {}
    for name, value in _named_tables(raw, origin, "checks", "check"):
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: `checks.{name}` must be a table")
        kind = _RULE_TYPES.get(value.get("kind"))  # type: ignore[arg-type]
        value = _interpolate(value, f"{origin}: checks.{name}", mi.type_info(kind) if kind else None)
        try:
            rule: Rule = msgspec.convert(value, Rule)
            places = rule.places()
        except msgspec.ValidationError as exc:
            message = field_path(exc, f"checks.{name}")
            if "kind`" in message or "missing required field `kind`" in message:
                from dbplex.check.rules import KINDS

                message += f" (kinds: {', '.join(KINDS)})"
            raise ConfigError(f"{origin}: {message}") from None
        except ValueError as exc:
            raise ConfigError(f"{origin}: `checks.{name}`: {exc}") from None
        for place in places:
            if sources is not None and place.source not in sources:
                known = ", ".join(sorted(sources)) or "none configured"
                raise ConfigError(
                    f"{origin}: `checks.{name}` reads {str(place)!r}, but {place.source!r} is not a configured source ({known})"
                )
        converted[name] = rule
    return converted


def from_dict(data: dict[str, Any], path: str | None = None) -> Config:
    """Validate already-parsed configuration data (``${ENV}`` is expanded first)."""
    origin = path or "configuration"
    data = dict(data)
    raw_checks = data.pop("checks", {})  # interpolated rule by rule, once each rule's kind is known
    data = _interpolate(data, origin, mi.type_info(Config))
    data.pop("path", None)
    sources = _convert_sources(data.pop("sources", {}), origin)
    partitions = convert_partitions(data.pop("partitions", {}), origin, sources)
    cached = _convert_cached_tables(data, origin)
    checks = convert_checks(raw_checks, origin, sources)
    try:
        config = msgspec.structs.replace(
            msgspec.convert(data, Config), sources=sources, partitions=partitions, checks=checks
        )
        if cached:
            config = msgspec.structs.replace(config, cache=msgspec.structs.replace(config.cache, tables=cached))
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {field_path(exc)}") from None
    check_cache(config.cache, config.sources, origin)
    for name in config.analyze:
        if name not in sources:
            known = ", ".join(sorted(sources)) or "none configured"
            raise ConfigError(f"{origin}: `[analyze.{name}]` names no configured source ({known})")
    for source in config.sources.values():
        for url in (source.url, *source.replicas):
            for secret in secrets.url_secrets(url):
                secrets.remember(secret)
        for key, value in source.options.items():
            if "password" in key.lower() and isinstance(value, str):
                secrets.remember(value)
    return msgspec.structs.replace(config, path=path)


def read_toml(file: Path, missing: str, contents: str) -> dict[str, Any]:
    """``file`` parsed, or a :class:`ConfigError` naming it: ``missing`` when it does not exist,
    else that its ``contents`` cannot be read or that it is not TOML."""
    try:
        data: dict[str, Any] = tomllib.loads(file.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: {missing}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read {contents}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return data


def _read_tables(file: Path, section: str, kind: str, contents: str) -> Any:
    """The ``[SECTION.NAME]`` tables of a file that holds nothing else (a spec or rules file
    given on the command line), as parsed: ``kind`` names the file, ``contents`` what it holds."""
    data = read_toml(file, f"{kind} not found", contents)
    other = sorted(set(data) - {section})
    if other:
        raise ConfigError(f"{file}: a {kind} holds only [{section}.NAME] tables, found {other}")
    return data.get(section, {})


def load_partitions(
    path: str | os.PathLike[str], sources: dict[str, SourceConfig] | None = None
) -> dict[str, PartitionSpec]:
    """The ``[partitions.NAME]`` tables of a spec file (``dbplex partition --spec FILE``), with
    ``${ENV}`` expanded; with ``sources``, each spec's source must be one of them."""
    file = Path(path)
    tables = _read_tables(file, "partitions", "partition spec file", "partition specs")
    specs = _interpolate(tables, str(file), mi.type_info(dict[str, PartitionSpec]))
    return convert_partitions(specs, str(file), sources)


def load_checks(path: str | os.PathLike[str], sources: dict[str, SourceConfig] | None = None) -> dict[str, Rule]:
    """The ``[checks.NAME]`` tables of a rules file (``dbplex check --checks FILE``), with
    ``${ENV}`` expanded; with ``sources``, every place a rule reads must be on one of them."""
    file = Path(path)
    return convert_checks(_read_tables(file, "checks", "checks file", "checks"), str(file), sources)


def find(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The configuration file to use: ``explicit``, ``$DBPLEX_CONFIG`` or ``./dbplex.toml``."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(DEFAULT_FILE)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a configuration file, raising :class:`ConfigError` on any problem."""
    file = find(path)
    missing = (
        f"configuration file not found (pass --config FILE, set {ENV_VAR}, "
        f"or create {DEFAULT_FILE}; `dbplex sandbox up` writes one)"
    )
    return from_dict(read_toml(file, missing, "configuration"), str(file))


def resolve(config: Config | Mapping[str, Any] | str | os.PathLike[str] | None) -> Config:
    """What ``dbplex.open`` and ``dbplex.open_async`` take: a Config, a dict shaped like the TOML
    file, a path, or None (``$DBPLEX_CONFIG`` or ``./dbplex.toml``)."""
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return from_dict(dict(config))
    return load(config)
