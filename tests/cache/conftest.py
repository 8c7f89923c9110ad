"""The cache tests' configuration: a source whose unique table is cached in the Redis source
``store``, and hubs on it whose entries and shared counts are deleted after each test."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex.testing.plugin import Servers

Hub = dbplex.Hub
#: what ``reader_process`` gives: a key in, the rows and the reader's hit and miss counts out.
Reader = Callable[[str], dict[str, Any]]


@pytest.fixture
def make_config(dbplex_servers: Servers, unique_table: str) -> Callable[..., dict[str, Any]]:
    """``make_config(backend="pg", ttl=300, **cache)``: a source named after the backend whose
    ``unique_table`` is cached in the Redis source ``store``."""

    def make(backend: str = "pg", ttl: float = 300, store_url: str | None = None, **cache: Any) -> dict[str, Any]:
        return {
            "sources": {
                backend: {"url": dbplex_servers.url(backend)},
                "store": {"url": store_url or dbplex_servers.url("redis"), "connect_timeout": 1},
            },
            "cache": {"store": "store", "tables": {f"{backend}.{unique_table}": {"ttl": ttl}}, **cache},
        }

    return make


@pytest.fixture
def open_cached(make_config: Callable[..., dict[str, Any]], unique_table: str) -> Iterator[Callable[..., Hub]]:
    """``open_cached(...)``: a hub on ``make_config(...)``; the table's entries and shared counts
    are deleted from the store after the test."""
    hubs: list[Hub] = []

    def make(*args: Any, **kwargs: Any) -> Hub:
        hub = dbplex.open(make_config(*args, **kwargs))
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        if hub.cache is not None:
            try:
                hub.cache.reset_shared_stats()
                with hub.connection(hub.cache.store) as client:
                    for key in client.scan_iter(match=f"cache:*:{unique_table}:*"):
                        client.delete(key)
            except dbplex.DbplexError:
                pass  # the failing-store test's hub has no store to clean
        hub.close()


@pytest.fixture
def reader_process(make_config: Callable[..., dict[str, Any]], unique_table: str, tmp_path: Path) -> Iterator[Reader]:
    """``reader.py`` in a process of its own, on ``make_config()``, ready: call it with a key to
    have it read that record through its sync cache. It must end cleanly after the test."""
    from tests.cache.test_cache import toml

    config = tmp_path / "dbplex.toml"
    config.write_text(toml(make_config()))
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("reader.py")), str(config), "pg", unique_table],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    def read(key: str) -> dict[str, Any]:
        stdin.write(key + "\n")
        stdin.flush()
        return json.loads(stdout.readline())  # type: ignore[no-any-return]

    try:
        assert json.loads(stdout.readline()) == {"ready": True}
        yield read
    finally:
        process.communicate("\n", timeout=60)
    assert process.returncode == 0
