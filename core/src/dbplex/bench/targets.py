"""What a benchmark runs against: dbplex itself, or the raw driver baseline a backend plugin provides."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec

from dbplex.bench.baseline import Baseline
from dbplex.bench.client import DbplexClient
from dbplex.bench.poolwait import Snapshot, snapshot
from dbplex.config import Config
from dbplex.errors import UnsupportedError
from dbplex.hub import Hub
from dbplex.hub import open as open_hub


def pooled(config: Config, sources: list[str], pool_size: int) -> Config:
    """``config`` with only ``sources``, each with exactly ``pool_size`` connections."""
    chosen = {}
    for name in sources:
        source = config.sources[name]
        pool = msgspec.structs.replace(source.pool, min_size=pool_size, max_size=pool_size)
        chosen[name] = msgspec.structs.replace(source, pool=pool)
    return msgspec.structs.replace(config, sources=chosen)


def baseline(hub: Hub, source: str, pool_size: int) -> Baseline | None:
    """The raw-driver baseline the source's backend plugin provides, or None if it has none."""
    return hub.bound(source).baseline(hub.sources[source], pool_size)


@dataclass
class Target:
    """An opened target: what gives each worker thread its client, and (dbplex side) what reads
    the pool's wait counters before and after a phase."""

    make_client: Callable[[], Baseline]
    pool_wait: Callable[[], Snapshot] | None


@contextmanager
def open_target(config: Config | Mapping[str, Any], source: str, kind: str, pool_size: int) -> Iterator[Target]:
    """Open ``source`` through dbplex (``kind="dbplex"``) or its raw baseline (``"raw"``) with ``pool_size`` connections."""
    if not isinstance(config, Config):
        config = msgspec.convert(config, Config)
    hub = open_hub(pooled(config, [source], pool_size))
    raw: Baseline | None = None
    try:
        if kind == "dbplex":
            hub.pool(source)  # open it now: a source that fails, fails before the phase starts
            client = DbplexClient(hub, source)
            yield Target(lambda: client, pool_wait=lambda: snapshot(hub, source))
        else:
            raw = baseline(hub, source, pool_size)
            if raw is None:
                raise UnsupportedError(
                    f"source {source!r}: the {hub.backend(source).name!r} backend's plugin provides no raw-driver baseline "
                    "(hook dbplex_bench_baseline); run with --no-baseline"
                )
            shared = raw
            yield Target(lambda: shared, pool_wait=None)
    finally:
        if raw is not None:
            raw.close()
        hub.close()
