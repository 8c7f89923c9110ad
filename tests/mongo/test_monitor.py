"""The pool statistics of :mod:`dbplex_mongo.monitor` when pymongo leaves an event out.

pymongo's asyncio pool puts a connection back without ConnectionCheckedIn when the check-in
itself is cancelled (a task cancelled while its command returns the connection). The events
are fed to the listener directly here, as pymongo would deliver them: the sequence, not a
server, is what is under test; tests/aio/test_pool.py has the same case on a real server.
"""

from __future__ import annotations

from pymongo import monitoring

from dbplex_mongo.monitor import PoolMonitor

ADDRESS = ("127.0.0.1", 27017)


def used(monitor: PoolMonitor) -> int:
    return monitor.stats("s", "mongo").used


def opened(listener: monitoring.ConnectionPoolListener, connection_id: int) -> None:
    listener.connection_created(monitoring.ConnectionCreatedEvent(ADDRESS, connection_id))
    listener.connection_ready(monitoring.ConnectionReadyEvent(ADDRESS, connection_id, 0.001))


def checked_out(listener: monitoring.ConnectionPoolListener, connection_id: int) -> None:
    listener.connection_check_out_started(monitoring.ConnectionCheckOutStartedEvent(ADDRESS))
    listener.connection_checked_out(monitoring.ConnectionCheckedOutEvent(ADDRESS, connection_id, 0.001))


def test_a_connection_put_back_without_its_event_ends_its_use_when_its_caller_unwinds() -> None:
    monitor = PoolMonitor(min_size=0, max_size=2)
    tasks = iter([1, 1, 2, 2])  # who checks out: task 1 (started, out), then task 2
    listener = monitor.listener(lambda: next(tasks))
    assert listener is not None
    opened(listener, 1)
    opened(listener, 2)
    checked_out(listener, 1)  # task 1, whose check-in is then cancelled: no event
    checked_out(listener, 2)  # task 2, still running its command
    assert used(monitor) == 2
    listener.unwound(1)  # task 1 left its dbplex checkout with the cancellation
    assert used(monitor) == 1  # task 2's use is not touched
    assert monitor.stats("s", "mongo").use.count == 1


def test_a_second_checkout_of_a_connection_still_counted_out_ends_the_first() -> None:
    monitor = PoolMonitor(min_size=0, max_size=2)
    listener = monitor.listener(lambda: 7)
    assert listener is not None
    opened(listener, 1)
    checked_out(listener, 1)  # put back silently, then lent again
    checked_out(listener, 1)
    assert used(monitor) == 1
    listener.connection_checked_in(monitoring.ConnectionCheckedInEvent(ADDRESS, 1))
    assert used(monitor) == 0
