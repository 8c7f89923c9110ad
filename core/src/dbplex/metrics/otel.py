"""Recording into OpenTelemetry's global MeterProvider (the ``dbplex[otel]`` extra).

Only the API is used: the application chooses the SDK, readers and exporters. Operations go into
the ``db.client.operation.duration`` histogram as they happen, and so do the pool's wait, use
and create times (through :data:`dbplex.pool.observers`: the API has no histogram fed with
totals); pool gauges are observed from ``hub.pool_stats()`` and the servers' resources from
:mod:`dbplex.metrics.server` when the SDK collects. Without ``opentelemetry-api`` nothing happens.
"""

from __future__ import annotations

import importlib.util
import logging
import weakref
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from dbplex import pool
from dbplex.metrics import server
from dbplex.metrics.recorder import BUCKETS, Attributes

if TYPE_CHECKING:
    from dbplex.aio.hub import AsyncHub
    from dbplex.cache import CacheStats
    from dbplex.hub import Hub

log = logging.getLogger(__name__)


def record_into_otel(hub: Hub | AsyncHub, provider: Any = None) -> bool:
    """Have ``hub``'s metrics recorded by ``provider`` (default: the global MeterProvider);
    False when the API is missing."""
    if hub.metrics is None or importlib.util.find_spec("opentelemetry") is None:
        return False
    from opentelemetry import metrics
    from opentelemetry.metrics import CallbackOptions, Observation

    import dbplex

    meter = metrics.get_meter("dbplex", dbplex.__version__, meter_provider=provider)
    duration = meter.create_histogram(
        "db.client.operation.duration",
        unit="s",
        description="Duration of database client operations.",
        explicit_bucket_boundaries_advisory=list(BUCKETS),
    )
    known: dict[tuple[Attributes, str, str | None], dict[str, str]] = {}

    def listener(attrs: Attributes, operation: str, seconds: float, error_type: str | None) -> None:
        key = (attrs, operation, error_type)
        labels = known.get(key)
        if labels is None:
            labels = known[key] = {**as_dict(attrs), "db.operation.name": operation}
            if error_type is not None:
                labels["error.type"] = error_type
        duration.record(seconds, labels)

    hub.metrics.listeners.append(listener)
    ref = weakref.ref(hub)

    def observe(read: Callable[[Any], Iterable[tuple[float, dict[str, str]]]]) -> Any:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            alive = ref()
            if alive is None or alive.metrics is None:
                return []
            return [Observation(value, labels) for value, labels in pools(alive, read)]

        return [callback]

    meter.create_observable_up_down_counter(
        "db.client.connection.count",
        observe(
            lambda s: [
                (s.idle, {"db.client.connection.state": "idle"}),
                (s.used, {"db.client.connection.state": "used"}),
            ]
        ),
        unit="{connection}",
        description="Connections of the pool by state.",
    )
    for create, name, field, unit, description in (
        (
            meter.create_observable_up_down_counter,
            "pending_requests",
            "pending",
            "{request}",
            "Callers waiting for a connection.",
        ),
        (meter.create_observable_up_down_counter, "max", "max", "{connection}", "The most connections the pool opens."),
        (
            meter.create_observable_counter,
            "timeouts",
            "timeouts",
            "{timeout}",
            "Checkouts that gave up waiting for a connection.",
        ),
    ):
        create(f"db.client.connection.{name}", observe(_unlabelled(field)), unit=unit, description=description)

    def cache(read: Callable[[CacheStats], Iterable[tuple[float, dict[str, str]]]]) -> Any:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            alive = ref()
            if alive is None or alive.cache is None:
                return []
            return [
                Observation(value, {"dbplex.cache.table": name, **labels})
                for name, stats in alive.cache.stats().items()
                for value, labels in read(stats)
            ]

        return [callback]

    meter.create_observable_counter(
        "dbplex.cache.requests",
        cache(lambda s: [(s.hits, {"dbplex.cache.result": "hit"}), (s.misses, {"dbplex.cache.result": "miss"})]),
        unit="{request}",
        description="Reads of the read-through cache by result: hit or miss.",
    )
    meter.create_observable_counter(
        "dbplex.cache.invalidations",
        cache(lambda s: [(s.invalidations, {})]),
        unit="{entry}",
        description="Cache entries deleted by writes through dbplex.",
    )
    meter.create_observable_gauge(
        "dbplex.cache.hit_age.max",
        cache(lambda s: [(s.age_max, {})]),
        unit="s",
        description="The oldest entry a hit of the read-through cache served (staleness).",
    )
    _pool_times(meter, hub)
    _servers(meter, hub)
    log.debug("dbplex metrics recorded into OpenTelemetry's global MeterProvider")
    return True


def _unlabelled(field: str) -> Callable[[Any], list[tuple[float, dict[str, str]]]]:
    """What ``observe`` reads for a pool figure with no labels of its own: one ``PoolStats`` field."""
    get = attrgetter(field)
    return lambda stats: [(get(stats), {})]


def as_dict(attrs: Attributes) -> dict[str, str]:
    """The semantic-convention attributes of one pool."""
    return {
        "db.client.connection.pool.name": attrs.pool,
        "db.system.name": attrs.system,
        "db.namespace": attrs.namespace,
    }


def pools(
    hub: Hub | AsyncHub, read: Callable[[Any], Iterable[tuple[float, dict[str, str]]]]
) -> list[tuple[float, dict[str, str]]]:
    """``read`` applied to the stats of every open pool of ``hub``, with each pool's attributes."""
    assert hub.metrics is not None
    out = []
    for name, stats in hub.pool_stats().items():
        attrs = hub.metrics.pool_attributes(name)
        if attrs is not None:
            out += [(value, {**as_dict(attrs), **labels}) for value, labels in read(stats)]
    return out


def _pool_times(meter: Any, hub: Hub | AsyncHub) -> None:
    """The ``db.client.connection.*_time`` histograms, recorded as the hub's pools time them."""
    descriptions = {
        "wait": "Time to obtain a connection from the pool.",
        "use": "Time between borrowing a connection and returning it.",
        "create": "Time to open a new connection.",
    }
    histograms = {
        kind: meter.create_histogram(
            f"db.client.connection.{kind}_time",
            unit="s",
            description=doc,
            explicit_bucket_boundaries_advisory=list(BUCKETS),
        )
        for kind, doc in descriptions.items()
    }
    ref = weakref.ref(hub)
    labels: dict[int, dict[str, str]] = {}

    def observer(source: Any, kind: str, ms: float) -> None:
        alive = ref()
        if alive is None or alive.metrics is None:
            return
        found = labels.get(id(source))
        if found is None:
            attrs = alive.metrics.attributes_of(source)
            if attrs is None:
                return  # another hub's pool
            found = labels[id(source)] = as_dict(attrs)
        histograms[kind].record(ms / 1000, found)

    pool.observers.append(observer)
    weakref.finalize(hub, pool.observers.remove, observer)  # a dropped hub's pools no longer time anything


def _servers(meter: Any, hub: Hub | AsyncHub) -> None:
    """An observable instrument per server resource, read when the SDK collects."""
    from opentelemetry.metrics import CallbackOptions, Observation

    ref = weakref.ref(hub)
    for instrument in server.INSTRUMENTS:

        def callback(options: CallbackOptions, instrument: server.Instrument = instrument) -> Iterable[Observation]:
            alive = ref()
            if alive is None or alive.metrics is None:
                return []
            for found, values in server.observe(alive, alive.metrics.pool_attributes):
                if found is instrument:
                    key = instrument.attribute
                    return [
                        Observation(value, {**as_dict(attrs), **({key: label} if key else {})})
                        for attrs, label, value in values
                    ]
            return []

        make = meter.create_observable_gauge if instrument.kind == "gauge" else meter.create_observable_counter
        make(instrument.name, [callback], unit=instrument.unit, description=instrument.description)
