"""examples/fastapi_app.py serves real requests against the sandbox servers: its lifespan opens
the async hub, its endpoints run ops and a transaction, ``/metrics`` serves the exposition.
Requests go through httpx's ASGI transport on one event loop, the application's lifespan around them."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import dbplex
from dbplex import Get
from dbplex.testing.plugin import Servers

pytest.importorskip("fastapi", reason="FastAPI (the core test extra) is not installed")
pytest.importorskip("prometheus_client", reason="the dbplex[prometheus] extra is not installed")
httpx = pytest.importorskip("httpx", reason="httpx (the core test extra) is not installed")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def config(dbplex_servers: Servers) -> dict[str, Any]:
    """One transactional source, ``db``, on PostgreSQL (the sandbox's MongoDB is a standalone
    server, which runs no transactions); metrics on."""
    return {
        "sources": {"db": {"url": dbplex_servers.url("pg")}},
        "metrics": {"enabled": True, "otel": False, "resources": False},
    }


@asynccontextmanager
async def serving(config: dict[str, Any]) -> AsyncIterator[Any]:
    """An httpx client of the example application, inside the application's lifespan."""
    app = example().create_app(config, "db")
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://app") as client,
    ):
        yield client


Session = Callable[[Callable[[Any], Awaitable[None]]], None]


@pytest.fixture
def session(config: dict[str, Any]) -> Session:
    """``session(requests)``: run ``await requests(client)`` in one served lifespan."""

    def run(requests: Callable[[Any], Awaitable[None]]) -> None:
        async def main() -> None:
            async with serving(config) as client:
                await requests(client)

        asyncio.run(main())

    return run


def test_records_are_written_and_read_through_the_endpoints(session: Session) -> None:
    key = f"c-{uuid.uuid4().hex[:12]}"

    async def requests(client: Any) -> None:
        assert (await client.get(f"/customers/{key}")).status_code == 404
        assert (await client.put(f"/customers/{key}", json={"name": "Ada", "tier": 2})).status_code == 200
        found = await client.get(f"/customers/{key}")
        assert (found.status_code, found.json()) == (200, {"name": "Ada", "tier": 2})
        assert (await client.get("/ready")).json() == {"status": "UP"}

    session(requests)


def test_an_order_and_its_customer_are_written_together_or_not_at_all(session: Session, config: dict[str, Any]) -> None:
    key, order, lost = (f"{p}-{uuid.uuid4().hex[:12]}" for p in ("c", "o", "o"))

    async def requests(client: Any) -> None:
        await client.put(f"/customers/{key}", json={"name": "Ada"})
        placed = await client.post(f"/customers/{key}/orders/{order}", json={"total": 12})
        assert (placed.status_code, placed.json()) == (200, {"order": order, "customer": key})
        assert (await client.get(f"/customers/{key}")).json() == {"name": "Ada", "last_order": order}
        refused = await client.post(f"/customers/no-such-{key}/orders/{lost}", json={"total": 30})
        assert refused.status_code == 404

    session(requests)
    with dbplex.open(config) as hub:  # what the database holds, read apart from the application
        assert hub.execute("db", Get("orders", order)).one()["values"] == {"total": 12, "customer": key}
        assert hub.execute("db", Get("orders", lost)).rows == [], "the refused order was not rolled back"


def test_metrics_are_served_with_the_requests_operations(session: Session) -> None:
    key = f"c-{uuid.uuid4().hex[:12]}"

    async def requests(client: Any) -> None:
        await client.put(f"/customers/{key}", json={"name": "Ada"})
        for _ in range(3):
            await client.get(f"/customers/{key}")
        served = await client.get("/metrics", follow_redirects=True)
        assert served.status_code == 200
        counts = {
            line.split('db_operation_name="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in served.text.splitlines()
            if line.startswith("db_client_operation_duration_seconds_count{")
        }
        assert counts == {"Put": 1, "Get": 3}

    session(requests)
