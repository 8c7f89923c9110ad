"""dbplex: one configuration, pools, routing, migrations and health for many databases.

>>> import dbplex
>>> with dbplex.open("dbplex.toml") as hub:                       # doctest: +SKIP
...     hub.execute("cache", dbplex.Put("users", "u1", {"name": "Ada"}))
"""

from __future__ import annotations

import importlib

#: ``typing.TYPE_CHECKING`` without importing typing (type checkers read any such name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dbplex import hookspecs
    from dbplex.aio import AsyncHub, AsyncPool, AsyncTransaction, open_async
    from dbplex.backends import Backend, Source
    from dbplex.config import Config, PoolConfig, SourceConfig
    from dbplex.errors import (
        ConfigError,
        DbplexError,
        InvalidValue,
        OpError,
        PluginError,
        PoolFull,
        PoolTimeout,
        QueryError,
        SourceUnavailable,
        UnknownSchemeError,
        UnsupportedError,
    )
    from dbplex.health import Health, Report, Status
    from dbplex.hookspecs import hookimpl
    from dbplex.hub import Hub, Transaction, open
    from dbplex.ops import Delete, Get, Op, Put, PutMany, Scan, Update
    from dbplex.pool import Pool, PoolCounters, PoolStats
    from dbplex.result import Result

#: where each public name lives. They are imported on first use, so that a command line, a
#: plugin or a test that needs one corner of dbplex does not pay for the rest (hub, plugins,
#: configuration, pluggy): ``import dbplex`` alone imports almost nothing.
_LAZY = {
    "AsyncHub": "dbplex.aio",
    "AsyncPool": "dbplex.aio",
    "AsyncTransaction": "dbplex.aio",
    "open_async": "dbplex.aio",
    "Backend": "dbplex.backends",
    "Source": "dbplex.backends",
    "Config": "dbplex.config",
    "PoolConfig": "dbplex.config",
    "SourceConfig": "dbplex.config",
    "ConfigError": "dbplex.errors",
    "DbplexError": "dbplex.errors",
    "InvalidValue": "dbplex.errors",
    "OpError": "dbplex.errors",
    "PluginError": "dbplex.errors",
    "PoolFull": "dbplex.errors",
    "PoolTimeout": "dbplex.errors",
    "QueryError": "dbplex.errors",
    "SourceUnavailable": "dbplex.errors",
    "UnknownSchemeError": "dbplex.errors",
    "UnsupportedError": "dbplex.errors",
    "Health": "dbplex.health",
    "Report": "dbplex.health",
    "Status": "dbplex.health",
    "hookimpl": "dbplex.hookspecs",
    "Hub": "dbplex.hub",
    "Transaction": "dbplex.hub",
    "open": "dbplex.hub",
    "Delete": "dbplex.ops",
    "Get": "dbplex.ops",
    "Op": "dbplex.ops",
    "Put": "dbplex.ops",
    "PutMany": "dbplex.ops",
    "Scan": "dbplex.ops",
    "Update": "dbplex.ops",
    "Pool": "dbplex.pool",
    "PoolCounters": "dbplex.pool",
    "PoolStats": "dbplex.pool",
    "Result": "dbplex.result",
    "hookspecs": "dbplex.hookspecs",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if name == "hookspecs" else getattr(module, name)
    else:
        raise AttributeError(f"module 'dbplex' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def _version() -> str:
    """The installed version; read on first use, as ``importlib.metadata`` alone costs about
    as much as the rest of dbplex's imports."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dbplex")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


__all__ = [
    "AsyncHub",
    "AsyncPool",
    "AsyncTransaction",
    "Backend",
    "Config",
    "ConfigError",
    "DbplexError",
    "Delete",
    "Get",
    "Health",
    "Hub",
    "InvalidValue",
    "Op",
    "OpError",
    "PluginError",
    "Pool",
    "PoolConfig",
    "PoolCounters",
    "PoolFull",
    "PoolStats",
    "PoolTimeout",
    "Put",
    "PutMany",
    "QueryError",
    "Report",
    "Result",
    "Scan",
    "Source",
    "SourceConfig",
    "SourceUnavailable",
    "Status",
    "Transaction",
    "UnknownSchemeError",
    "UnsupportedError",
    "Update",
    "hookimpl",
    "hookspecs",
    "open",
    "open_async",
]
