"""dbplex: one configuration, pools, routing, migrations and health for many databases.

>>> import dbplex
>>> with dbplex.open("dbplex.toml") as hub:                       # doctest: +SKIP
...     hub.execute("cache", dbplex.Put("users", "u1", {"name": "Ada"}))
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from dbplex import hookspecs
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
from dbplex.logs import quiet_until_configured
from dbplex.ops import Delete, Get, Op, Put, Scan, Update
from dbplex.pool import Pool, PoolCounters, PoolStats
from dbplex.result import Result

quiet_until_configured("dbplex")

try:
    __version__ = version("dbplex")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
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
]
