"""Conformance, pools: what ``pool.*`` settings and ``hub.pool_stats()`` promise on every backend.

Every test opens its own source with the pool settings it exercises and observes the pool only
through the public surface: ops, ``hub.resize()``, ``hub.pool_stats()`` and the errors a caller
sees. So it holds for a pool the backend wrote and for one dbplex provides.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

import dbplex
from dbplex import Get, Put
from dbplex.errors import PoolFull, PoolTimeout, SourceUnavailable
from dbplex.pool import PoolStats
from dbplex.testing.conformance_base import SOURCE, SuiteBase

OpenSource = Callable[..., dbplex.Hub]


def _stats(hub: dbplex.Hub) -> PoolStats:
    return hub.pool_stats()[SOURCE]


def _until(check: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Wait for another thread to reach a state (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened within {limit:g}s: {what}")
        time.sleep(0.01)


class SilentServer:
    """A TCP server on loopback that accepts every connection and never sends a byte.

    What a hung server, a full accept queue behind a proxy, or a firewall that drops replies
    looks like to a client: the TCP handshake succeeds, the protocol handshake never ends.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dbplex-silent-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(conn)  # kept open, never read from or written to

    @property
    def accepted(self) -> int:
        return len(self._accepted)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for conn in self._accepted:
            conn.close()


def with_port(url: str, port: int) -> str:
    """``url`` pointing at ``127.0.0.1:port``, credentials, path and query kept."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class PoolSection(SuiteBase):
    """Waiting, limits, lifetimes, lost connections, resizing, stats and the connect timeout."""

    @pytest.fixture
    def silent_server(self) -> Iterator[SilentServer]:
        server = SilentServer()
        yield server
        server.close()

    def test_pool_timeout_names_the_source_the_connections_in_use_and_the_maximum(
        self, open_source: OpenSource, unique_table: str
    ) -> None:
        hub = open_source(min_size=1, max_size=2, timeout=0.3)
        hub.execute(SOURCE, Put(unique_table, "k", {"v": 1}))
        with self.hold(hub, unique_table, 2), pytest.raises(PoolTimeout) as raised:
            hub.execute(SOURCE, Get(unique_table, "k"))
        message = str(raised.value)
        assert f"source {SOURCE!r}" in message, message
        assert re.search(r"\b2 in use\b", message), f"names no connections in use: {message}"
        assert re.search(r"(at most|max_size|maximum|max|all)\s*=?\s*2\b", message), f"names no maximum: {message}"
        assert _stats(hub).timeouts >= 1
        assert hub.execute(SOURCE, Get(unique_table, "k")).one()["values"] == {"v": 1}  # serves again once released

    def test_max_waiting_turns_callers_away_at_once_with_pool_full(
        self, open_source: OpenSource, unique_table: str
    ) -> None:
        hub = open_source(min_size=1, max_size=1, timeout=5, max_waiting=1)
        hub.execute(SOURCE, Put(unique_table, "k", {"v": 1}))
        results: list[object] = []
        waiter = threading.Thread(target=lambda: results.append(hub.execute(SOURCE, Get(unique_table, "k"))))
        with self.hold(hub, unique_table, 1):
            waiter.start()
            _until(lambda: _stats(hub).pending >= 1, "one caller waiting (stats.pending == 1)")
            with pytest.raises(PoolFull) as raised:
                hub.execute(SOURCE, Get(unique_table, "k"))
        waiter.join(30)
        assert f"source {SOURCE!r}" in str(raised.value) and "max_waiting" in str(raised.value)
        assert len(results) == 1, "the admitted waiter got the connection once it was released"
        stats = _stats(hub)
        assert stats.rejected == 1 and stats.timeouts == 0 and stats.pending == 0

    def test_a_connection_past_max_lifetime_is_replaced(self, open_source: OpenSource, unique_table: str) -> None:
        hub = open_source(min_size=1, max_size=1, max_lifetime=0.2, lifetime_jitter=0)
        hub.execute(SOURCE, Put(unique_table, "k", {"v": 1}))
        before = _stats(hub)
        time.sleep(0.4)  # the only connection is now past its lifetime
        assert hub.execute(SOURCE, Get(unique_table, "k")).one()["values"] == {"v": 1}
        assert _stats(hub).created > before.created, "a new connection served the op"
        # the old one may be closed in the background (a driver's client closing after its last use)
        _until(lambda: _stats(hub).recycled > before.recycled, "the old connection counted as recycled")
        assert _stats(hub).lost == before.lost, "retiring a connection on purpose is not a loss"

    def test_a_connection_killed_by_the_server_is_replaced_not_handed_out(
        self, open_source: OpenSource, source_url: str, unique_table: str
    ) -> None:
        tag = f"dbplex-conformance-{uuid.uuid4().hex[:8]}"
        hub = open_source(url=self.tagged_url(source_url, tag), min_size=1, max_size=1, keepalive=0)
        hub.execute(SOURCE, Put(unique_table, "k", {"v": 1}))
        created = _stats(hub).created
        assert self.kill_connections(source_url, tag) >= 1, "the server ended no session of this pool"
        for _ in range(3):  # never a broken connection, whichever op meets the loss first
            assert hub.execute(SOURCE, Get(unique_table, "k")).one()["values"] == {"v": 1}
        assert _stats(hub).created > created, "a new connection replaced the killed one"

    def test_resize_changes_the_bounds_while_the_pool_runs(self, open_source: OpenSource, unique_table: str) -> None:
        hub = open_source(min_size=1, max_size=1, timeout=0.3)
        hub.execute(SOURCE, Put(unique_table, "k", {"v": 1}))
        hub.resize(SOURCE, 2, 3)
        n = self.servers(hub)
        stats = _stats(hub)
        assert (stats.min, stats.max) == (2 * n, 3 * n)
        with self.hold(hub, unique_table, 3):  # three at once fit now
            pass
        hub.resize(SOURCE, 1, 1)
        assert hub.execute(SOURCE, Get(unique_table, "k")).one()["values"] == {"v": 1}
        stats = _stats(hub)
        assert (stats.min, stats.max) == (n, n) and stats.size <= n
        with self.hold(hub, unique_table, 1), pytest.raises(PoolTimeout):  # and the new maximum holds
            hub.execute(SOURCE, Get(unique_table, "k"))

    def test_stats_count_checkouts_and_keep_the_gauges_consistent(
        self, open_source: OpenSource, unique_table: str
    ) -> None:
        hub = open_source(min_size=1, max_size=3)
        hub.execute(SOURCE, Put(unique_table, "k", {"v": 1}))
        before = _stats(hub)
        for _ in range(5):
            hub.execute(SOURCE, Get(unique_table, "k"))
        after = _stats(hub)
        assert after.acquired - before.acquired == 5, "acquired counts one checkout per op"
        assert after.wait.count - before.wait.count == 5, "every checkout's wait is timed"
        assert after.use.count - before.use.count == 5, "every checkout's use is timed once it is back"
        assert (after.used, after.idle, after.pending) == (0, after.size, 0)
        n = self.servers(hub)
        assert (after.min, after.max) == (n, 3 * n) and 1 <= after.size <= 3 * n
        assert after.created >= after.size and after.create.count >= 1
        for name in ("wait", "use", "create"):  # each histogram holds every duration its summary counts
            timing = getattr(after, name)
            assert sum(timing.buckets) == timing.count, f"the {name} histogram counts every {name} time"
        for name in ("wait", "use"):
            grown = [a - b for a, b in zip(getattr(after, name).buckets, getattr(before, name).buckets, strict=True)]
            assert sum(grown) == 5 and min(grown) >= 0, f"the {name} histogram counts each of the 5 checkouts"
        with self.hold(hub, unique_table, 2):
            held = _stats(hub)
            assert held.used == 2 and held.idle == held.size - 2 and 2 <= held.size <= 3 * n
        back = _stats(hub)
        assert back.used == 0 and back.idle == back.size

    def test_connect_timeout_holds_against_a_server_that_accepts_and_never_answers(
        self, silent_server: SilentServer, source_url: str, unique_table: str
    ) -> None:
        """The first op fails with SourceUnavailable naming the source, and it does give up.

        Not a timing assertion: the op runs in a thread and the test waits for it five times
        ``connect_timeout``, a bound no correct backend comes near. A thread still running then
        is a backend that waits for the server without limit (a driver's own default of
        minutes, or none), which is the defect this test exists for, so it fails as "connect
        timeout not honoured".
        """
        connect_timeout = 1.0
        fields = {
            **self.source_fields,
            "url": with_port(source_url, silent_server.port),
            "connect_timeout": connect_timeout,
            "pool": {"min_size": 1, "max_size": 2, "timeout": connect_timeout},
        }
        outcome: list[BaseException | None] = []

        def first_op() -> None:
            try:
                with dbplex.open({"sources": {SOURCE: fields}}) as hub:
                    hub.execute(SOURCE, Get(unique_table, "k"))
            except BaseException as exc:  # the test asserts on it
                outcome.append(exc)
            else:
                outcome.append(None)

        thread = threading.Thread(target=first_op, name="dbplex-conformance-first-op", daemon=True)
        thread.start()
        thread.join(connect_timeout * 5)
        assert not thread.is_alive(), (
            f"connect timeout not honoured: the first op still waits after {connect_timeout * 5:g}s "
            f"with connect_timeout = {connect_timeout:g}"
        )
        assert silent_server.accepted >= 1, "the backend never reached the silent server"
        (error,) = outcome
        assert isinstance(error, SourceUnavailable), f"expected SourceUnavailable, got {error!r}"
        assert f"source {SOURCE!r}" in str(error)
