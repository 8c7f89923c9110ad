"""A FastAPI application on dbplex's asyncio hub.

    pip install fastapi uvicorn 'dbplex[prometheus]'
    DBPLEX_CONFIG=dbplex.toml DBPLEX_SOURCE=pg uvicorn fastapi_app:app --app-dir examples

``DBPLEX_SOURCE`` (default ``db``) names a source whose backend runs transactions (PostgreSQL,
or MongoDB on a replica set). The hub opens in the lifespan, so its pools live on the server's event loop and
close when it stops; with ``[metrics] enabled = true``, ``/metrics`` serves the Prometheus
exposition. tests/aio/test_fastapi_app.py runs it against real servers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request

import dbplex
from dbplex import Get, Put, Update
from dbplex.metrics import prometheus_asgi_app


# --8<-- [start:app]
def create_app(config: str | Mapping[str, Any], source: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with dbplex.open_async(config) as hub:
            app.state.hub = hub
            app.state.metrics = prometheus_asgi_app(hub) if hub.metrics is not None else None
            yield  # serving; the hub closes its pools when the server stops

    app = FastAPI(lifespan=lifespan)

    @app.put("/customers/{key}")
    async def put_customer(key: str, values: dict[str, Any], request: Request) -> dict[str, Any]:
        await request.app.state.hub.execute(source, Put("customers", key, values))
        return values

    @app.get("/customers/{key}")
    async def get_customer(key: str, request: Request) -> dict[str, Any]:
        found = (await request.app.state.hub.execute(source, Get("customers", key))).first()
        if found is None:
            raise HTTPException(404, f"no customer {key!r}")
        values: dict[str, Any] = found["values"]
        return values

    @app.post("/customers/{key}/orders/{order}")
    async def place_order(key: str, order: str, values: dict[str, Any], request: Request) -> dict[str, Any]:
        """The order and the customer's ``last_order`` together, or neither."""
        async with request.app.state.hub.transaction(source) as tx:
            await tx.execute(Put("orders", order, {**values, "customer": key}))
            if (await tx.execute(Update("customers", key, {"last_order": order}))).affected == 0:
                raise HTTPException(404, f"no customer {key!r}")  # leaving the block rolls the order back
        return {"order": order, "customer": key}

    @app.get("/ready")
    async def ready(request: Request) -> dict[str, str]:
        report = await request.app.state.hub.health()
        if not report.ready:
            raise HTTPException(503, report.status.value)
        return {"status": report.status.value}

    async def metrics(scope: Any, receive: Any, send: Any) -> None:
        exporter = scope["app"].state.metrics
        if exporter is None:
            raise HTTPException(404, "metrics are off: set [metrics] enabled = true")
        await exporter(scope, receive, send)

    app.mount("/metrics", metrics)
    return app


# --8<-- [end:app]

app = create_app(os.environ.get("DBPLEX_CONFIG", "dbplex.toml"), os.environ.get("DBPLEX_SOURCE", "db"))
