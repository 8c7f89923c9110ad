"""A sandbox for fault drills: PostgreSQL with one streaming replica, and Redis.

Tests stop and start its servers (``dbplex.sandbox.stop_server`` / ``start_server``), so they
get a sandbox of their own rather than the shared test servers; every test that stops a server
starts it again before it ends.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex import sandbox

pytest.importorskip("psycopg")
pytest.importorskip("redis")


@pytest.fixture(scope="session")
def drill() -> Iterator[sandbox.Sandbox]:
    # below the system temp dir, not pytest's private one: postgres may run as another user
    directory = Path(tempfile.mkdtemp(prefix="dbplex-faults-")) / "sb"
    try:
        yield sandbox.up(directory, servers=("pg", "redis"), pg_replicas=1)
    finally:
        sandbox.down(directory)
        shutil.rmtree(directory.parent, ignore_errors=True)


@pytest.fixture
def open_hub() -> Iterator[Callable[[dict[str, Any]], dbplex.Hub]]:
    hubs: list[dbplex.Hub] = []

    def make(sources: dict[str, Any]) -> dbplex.Hub:
        hub = dbplex.open({"sources": sources})
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


def eventually(probe: Callable[[], object], timeout: float, what: str) -> float:
    """Poll ``probe`` until truthy; return how long that took. ``timeout`` is a bound, not a figure."""
    started = time.monotonic()
    while not probe():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:g}s"
        time.sleep(0.01)
    return time.monotonic() - started


def figure(name: str, value: float, unit: str = "s") -> None:
    """A measured figure for docs/reliability.md (shown with ``pytest -s``); never asserted."""
    print(f"\nFIGURE {name}: {value:.3f} {unit}")


def restart_if_stopped(drill: sandbox.Sandbox, name: str) -> None:
    """Leave the sandbox as the test found it, whatever failed half-way."""
    current = sandbox.status(drill.directory)
    if current is not None and not current.server(name).is_running():
        sandbox.start_server(drill.directory, name)
