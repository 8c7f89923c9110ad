"""What the asyncio hub refuses, and says so: a backend without an async executor, an op an async
executor does not run yet; and what ``dbplex plugins`` reports of each backend's modes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import dbplex
from dbplex import Backend, Get, Status
from dbplex.cli.main import cli
from dbplex_mongo import GridFSPut


def test_a_backend_without_an_async_executor_is_refused_naming_it(tmp_path: Path) -> None:
    async def main() -> None:
        config = {"sources": {"local": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"}}}
        async with dbplex.open_async(config) as hub:
            with pytest.raises(
                dbplex.UnsupportedError, match=r"source 'local': backend 'sqlite' .*no asyncio executor"
            ):
                await hub.execute("local", Get("t", "k"))
            with pytest.raises(dbplex.UnsupportedError, match="no asyncio executor"):
                async with hub.connection("local"):
                    pass
            (check,) = (await hub.health()).sources
            assert check.status is Status.UNKNOWN and "no asyncio executor" in (check.error or "")

    asyncio.run(main())


def test_an_unknown_source_is_a_config_error_naming_the_configured_ones(dbplex_servers: Any) -> None:
    async def main() -> None:
        async with dbplex.open_async({"sources": {"r": {"url": dbplex_servers.url("redis")}}}) as hub:
            with pytest.raises(dbplex.ConfigError, match=r"unknown source 'x' \(configured: r\)"):
                await hub.execute("x", Get("t", "k"))

    asyncio.run(main())


def test_an_op_without_an_async_executor_yet_says_so(dbplex_servers: Any) -> None:
    async def main() -> None:
        async with dbplex.open_async({"sources": {"m": {"url": dbplex_servers.url("mongo")}}}) as hub:
            with pytest.raises(dbplex.UnsupportedError, match="does not run GridFSPut ops under asyncio yet"):
                await hub.execute("m", GridFSPut("f.txt", b"data"))

    asyncio.run(main())


def test_plugins_lists_the_modes_of_each_backend() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    modes = {b["name"]: b["modes"] for p in json.loads(result.output)["plugins"] for b in p["backends"]}
    assert modes["pg"] == modes["redis"] == modes["redis_cluster"] == modes["mongo"] == ["sync", "async"]
    assert modes["sqlite"] == ["sync"]


def test_backend_plugin_refuses_an_async_connector_and_an_async_pool_together() -> None:
    from dbplex.backend_plugin import backend_plugin

    with pytest.raises(ValueError, match="async_connect= and async_pool= exclude each other"):
        backend_plugin(Backend(name="x", schemes=("x",)), async_connect="m:a", async_pool="m:b")


def test_an_async_target_that_cannot_take_the_hooks_arguments_is_a_load_error_naming_it() -> None:
    from dbplex.backend_plugin import backend_plugin

    plugin = backend_plugin(Backend(name="x", schemes=("x",)), async_query="json:dumps", async_pool="json:loads")
    with pytest.raises(dbplex.PluginError, match=r"hook 'async_query', target 'json:dumps'"):
        plugin.resolve_targets()


def test_resize_of_a_pool_that_cannot_resize_says_so(dbplex_servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend's own asyncio pool need not resize (a third-party one): the hub says so by name."""
    from dbplex_mongo.aio_pool import AsyncMongoPool

    monkeypatch.delattr(AsyncMongoPool, "resize")  # as a backend whose pool has none

    async def main() -> None:
        async with dbplex.open_async({"sources": {"m": {"url": dbplex_servers.url("mongo")}}}) as hub:
            with pytest.raises(
                dbplex.UnsupportedError, match="source 'm': backend 'mongo' cannot resize its asyncio pool"
            ):
                await hub.resize("m", 1, 2)

    asyncio.run(main())
