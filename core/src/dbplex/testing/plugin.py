"""Fixtures for tests that need real database servers.

Servers come from ``DBPLEX_TEST_PG_URL``, ``DBPLEX_TEST_MONGO_URL`` and
``DBPLEX_TEST_REDIS_URL`` when set, and otherwise from a sandbox started once per test session
(only for the backends a test asks for). Every test gets its own table names, so tests can
share servers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ENV_URLS = {"pg": "DBPLEX_TEST_PG_URL", "mongo": "DBPLEX_TEST_MONGO_URL", "redis": "DBPLEX_TEST_REDIS_URL"}


class Servers:
    """Server URLs by backend name; starts a sandbox for backends that have no URL given."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._urls = {name: os.environ[var] for name, var in ENV_URLS.items() if os.environ.get(var)}
        self._sandbox: Any = None
        #: which MongoDB server is behind the URL: "mongod", "nx-27017", or "given" (from the env).
        self.mongo_kind = os.environ.get("DBPLEX_TEST_MONGO_KIND", "given")

    def url(self, backend: str) -> str:
        if backend not in self._urls:
            self._start_sandbox()
        try:
            return self._urls[backend]
        except KeyError:
            pytest.skip(f"no {backend} server: set {ENV_URLS.get(backend, 'a URL')} or install dbplex[sandbox]")

    def _start_sandbox(self) -> None:
        if self._sandbox is not None:
            return
        from dbplex import sandbox

        missing = tuple(name for name in ENV_URLS if name not in self._urls)
        self._sandbox = sandbox.up(self._directory, servers=missing)
        self._urls.update({k: v for k, v in self._sandbox.urls.items() if k not in self._urls})
        for record in self._sandbox.servers:
            if record.name == "mongo":
                self.mongo_kind = record.kind

    def close(self) -> None:
        if self._sandbox is not None:
            from dbplex import sandbox

            sandbox.down(self._directory)


@pytest.fixture(scope="session")
def dbplex_servers() -> Iterator[Servers]:
    """Server URLs for ``pg``, ``mongo`` and ``redis``: given by env, else a session sandbox.

    The sandbox lives in a fresh folder under the system temp dir rather than pytest's, whose
    root is private to its owner: a server that runs as another user (PostgreSQL under root)
    must be able to reach its data.
    """
    directory = Path(tempfile.mkdtemp(prefix="dbplex-test-sandbox-"))
    servers = Servers(directory / "sandbox")
    yield servers
    servers.close()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def sandbox_dir() -> Iterator[Path]:
    """A folder for a sandbox of the test's own, stopped and removed afterwards.

    It lives under the system temp dir, not pytest's (private to its owner), so that a server
    running as another user can reach its data.
    """
    from dbplex import sandbox

    parent = Path(tempfile.mkdtemp(prefix="dbplex-test-sandbox-"))
    yield parent / "sb"
    sandbox.down(parent / "sb")
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def unique_table() -> str:
    """A table (collection, key family) name no other test uses."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def open_config() -> Iterator[Callable[[dict[str, Any]], Any]]:
    """``open_config(config)`` opens a Hub from a whole configuration mapping.

    Every hub opened is closed after the test.
    """
    import dbplex

    hubs: list[dbplex.Hub] = []

    def make(config: dict[str, Any]) -> dbplex.Hub:
        hub = dbplex.open(config)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture
def open_hub(dbplex_servers: Servers, open_config: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """``open_hub(backend, **source_fields)`` opens a Hub with one source named ``backend``.

    Every hub opened is closed after the test.
    """

    def make(backend: str, url: str | None = None, **fields: Any) -> Any:
        return open_config({"sources": {backend: {"url": url or dbplex_servers.url(backend), **fields}}})

    return make


@pytest.fixture
def free_port() -> int:
    """A loopback TCP port with nothing listening on it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
