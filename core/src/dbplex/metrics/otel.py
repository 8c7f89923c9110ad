"""Recording into OpenTelemetry's global MeterProvider (the ``dbplex[otel]`` extra).

Only the API is used: the application chooses the SDK, readers and exporters. Operations go into
the ``db.client.operation.duration`` histogram as they happen; pool gauges are observed from
``hub.pool_stats()`` when the SDK collects. Without ``opentelemetry-api`` nothing happens.
"""

from __future__ import annotations

import importlib.util
import logging
import weakref
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from dbplex.metrics.recorder import BUCKETS, Attributes

if TYPE_CHECKING:
    from dbplex.hub import Hub

log = logging.getLogger(__name__)


def record_into_otel(hub: Hub, provider: Any = None) -> bool:
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
    hub: Hub, read: Callable[[Any], Iterable[tuple[float, dict[str, str]]]]
) -> list[tuple[float, dict[str, str]]]:
    """``read`` applied to the stats of every open pool of ``hub``, with each pool's attributes."""
    assert hub.metrics is not None
    out = []
    for name, stats in hub.pool_stats().items():
        attrs = hub.metrics.pool_attributes(name)
        if attrs is not None:
            out += [(value, {**as_dict(attrs), **labels}) for value, labels in read(stats)]
    return out
