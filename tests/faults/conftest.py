"""A sandbox for fault drills: PostgreSQL with one streaming replica, and Redis.

Tests stop and start its servers (``dbplex.sandbox.stop_server`` / ``start_server``), so they
get a sandbox of their own rather than the shared test servers; every test that stops a server
starts it again before it ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
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


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[sandbox.Server]:
    """A MongoDB server of its own (the drill sandbox has none), for tests that stop it."""
    directory = Path(tempfile.mkdtemp(prefix="dbplex-faults-mongo-")) / "sb"
    try:
        yield sandbox.up(directory, servers=("mongo",)).server("mongo")
    finally:
        sandbox.down(directory)
        shutil.rmtree(directory.parent, ignore_errors=True)


@pytest.fixture
def open_hub(open_config: Callable[[dict[str, Any]], dbplex.Hub]) -> Callable[[dict[str, Any]], dbplex.Hub]:
    """``open_hub(sources)``: a hub with these sources, closed after the test."""

    def make(sources: dict[str, Any]) -> dbplex.Hub:
        return open_config({"sources": sources})

    return make


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


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (PostgreSQL's backends each start a session of
    their own, so its process group holds the postmaster alone)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


@contextmanager
def frozen(server: sandbox.Server) -> Iterator[None]:
    """The server stopped with SIGSTOP, its child processes too (sockets stay open and the kernel
    still acknowledges what is sent), then continued."""
    os.kill(server.pid, signal.SIGSTOP)  # first: a stopped server starts no new children
    stopped = [server.pid]
    try:
        for child in _descendants(server.pid):
            os.kill(child, signal.SIGSTOP)
            stopped.append(child)
        yield
    finally:
        for pid in reversed(stopped):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
