"""The operation timeout of a PostgreSQL source: a server-side bound and a client-side one.

The server cancels a statement after ``operation_timeout`` (``statement_timeout``, set when the
connection opens), and the connection stays usable. A server that does not answer at all (its
process stopped, its host gone while TCP still acknowledges) cancels nothing, and psycopg waits
for a reply with no bound of its own. So each op on a pooled connection is registered with a
deadline ``operation_timeout`` + :data:`GRACE` seconds away, and the pool's housekeeper shuts
down the socket of any op past its deadline: the op fails at once with an error naming the
source, and the broken connection is discarded by the pool. The client bound is therefore that
deadline plus at most one housekeeper interval (a quarter of the timeout).

Under asyncio the ops are registered the same way (:func:`begin_on_loop`), and the sweep runs
as a timer on the event loop (``loop.call_later``, no thread and no task) while ops are in
flight: the op fails with the same error, and its broken connection is discarded (counted
lost). A timer per op cost about eight times the CPU (docs/benchmarks.md), and cancelling the op's
coroutine (``wait_for``) would cost a task per op and leave psycopg to tidy up a session on a
server that does not answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from time import monotonic
from typing import TYPE_CHECKING

from dbplex.backends import Source
from dbplex.errors import SourceUnavailable

if TYPE_CHECKING:
    from dbplex_pg.connection import AsyncPgConnection, PgConnection, SourceState

log = logging.getLogger("dbplex.pool")

#: PostgreSQL's operation timeout when the source sets none (seconds).
DEFAULT = 30.0
#: how much longer than the server's bound the client waits: a server that answers cancels first.
GRACE = 1.0


def operation_timeout(source: Source) -> float:
    """The source's ``operation_timeout``, or PostgreSQL's default."""
    return source.config.operation_timeout or DEFAULT


def sweep_interval(source: Source) -> float:
    """How often the housekeeper must look for ops past their deadline."""
    return operation_timeout(source) / 4


def begin(conn: PgConnection | AsyncPgConnection) -> None:
    """An op starts on ``conn``: give it a deadline."""
    state = conn.state
    state.in_flight[conn] = monotonic() + state.client_bound


def end(conn: PgConnection | AsyncPgConnection) -> None:
    """The op on ``conn`` is over, however it ended."""
    conn.state.in_flight.pop(conn, None)


def sweep(state: SourceState) -> None:
    """Shut down the sockets of ops past their deadline (called by the pool's housekeeper)."""
    now = monotonic()
    for conn, deadline in list(state.in_flight.items()):
        if deadline > now or state.in_flight.get(conn) != deadline:
            continue  # not due, or that op ended meanwhile
        expire(conn)


def begin_on_loop(conn: AsyncPgConnection) -> None:
    """Under asyncio, :func:`begin`, and the sweep scheduled on the running loop if none is."""
    begin(conn)
    state = conn.state
    if not state.sweeping:
        state.sweeping = True
        asyncio.get_running_loop().call_later(state.bound / 4, _sweep_on_loop, state)


def _sweep_on_loop(state: SourceState) -> None:
    """:func:`sweep`, again every quarter of the timeout while ops are in flight (then it stops:
    a closed pool leaves no timer behind)."""
    sweep(state)
    if state.in_flight:
        asyncio.get_running_loop().call_later(state.bound / 4, _sweep_on_loop, state)
    else:
        state.sweeping = False


def expire(conn: PgConnection | AsyncPgConnection) -> None:
    """The op on ``conn`` is past its deadline: shut its socket down, so that psycopg's wait fails now."""
    conn.timed_out = True
    state = conn.state
    try:
        with socket.socket(fileno=os.dup(conn.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError) as exc:  # closed meanwhile: nothing left to wake
        log.debug("source %r: could not shut down a connection past its deadline: %s", state.name, exc)
    log.warning("source %r: an op got no reply within %gs; its connection was closed", state.name, state.bound)


def timed_out(source_name: str, seconds: float) -> SourceUnavailable:
    """The error of an op whose connection the sweep closed."""
    return SourceUnavailable(
        f"source {source_name!r}: no reply from the server within {seconds:g}s (operation_timeout); "
        "the connection was closed"
    )
