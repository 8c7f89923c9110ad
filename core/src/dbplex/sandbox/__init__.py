"""Throwaway local PostgreSQL, Redis and MongoDB servers for the demo, the docs and the tests.

>>> from dbplex import sandbox
>>> sb = sandbox.up(".dbplex-sandbox")          # doctest: +SKIP
>>> sb.urls["pg"]                               # doctest: +SKIP
'postgresql://postgres@127.0.0.1:41234/postgres'
>>> sandbox.down(".dbplex-sandbox")             # doctest: +SKIP

Servers come from pip packages (``dbplex[sandbox]``) or binaries on PATH, listen on free
loopback ports only, and run detached, so they outlive the process that started them.
"""

from __future__ import annotations

from dbplex.sandbox.errors import SandboxError
from dbplex.sandbox.lifecycle import CLUSTER_SOURCE, DEFAULT_DIR, ENGINES, down, start_server, status, stop_server, up
from dbplex.sandbox.records import Sandbox, Server

__all__ = [
    "CLUSTER_SOURCE",
    "DEFAULT_DIR",
    "ENGINES",
    "Sandbox",
    "SandboxError",
    "Server",
    "down",
    "start_server",
    "status",
    "stop_server",
    "up",
]
