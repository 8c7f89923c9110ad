"""Operation and pool metrics, named by the OpenTelemetry database semantic conventions.

On by configuration (``[metrics] enabled = true``): the hub then registers a
:class:`~dbplex.metrics.recorder.MetricsPlugin` wrapping ``dbplex_query`` for its own sources,
before it binds the hooks; off, nothing wraps an operation. Pool metrics are read from
``hub.pool_stats()`` when they are collected, so they cost nothing per operation. Exporters are
extras imported only when used: ``dbplex[prometheus]`` (:func:`prometheus_app`,
``dbplex metrics serve``) and ``dbplex[otel]`` (the global MeterProvider).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbplex.aio.hub import AsyncHub
    from dbplex.hub import Hub


def prometheus_app(hub: Hub | AsyncHub) -> Any:
    """A WSGI application serving ``hub``'s metrics in the Prometheus text format (any path).

    Needs the ``dbplex[prometheus]`` extra; mount it in an application or serve it as is.
    """
    from dbplex.metrics.prometheus import wsgi_app

    return wsgi_app(hub)


def prometheus_asgi_app(hub: Hub | AsyncHub) -> Any:
    """An ASGI application serving ``hub``'s metrics in the Prometheus text format (any path).

    Needs the ``dbplex[prometheus]`` extra; mount it in an ASGI framework (Starlette, FastAPI, ...).
    """
    from dbplex.metrics.prometheus import asgi_app

    return asgi_app(hub)
