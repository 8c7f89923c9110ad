"""Read routing over a source's replicas: strategies, a circuit breaker per replica, lag checks."""

from __future__ import annotations

from dbplex.routing.breaker import Breaker
from dbplex.routing.router import Router

__all__ = ["Breaker", "Router"]
