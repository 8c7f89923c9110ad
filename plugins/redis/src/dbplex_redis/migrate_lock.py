"""The Redis migration lock: ``SET key token NX PX ttl``, renewed and released by token.

The value is the run's token (its run id and who it is), so renewing and releasing check in one
Lua script that the key still holds this run's token: a run whose lease expired and was taken
over can neither extend nor delete the new holder's lock. A run that dies loses the key when it
expires.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

import redis
import redis.exceptions

from dbplex.backends import Source
from dbplex.binding import Held
from dbplex.errors import QueryError
from dbplex.migrate import LockOwner, LockSettings
from dbplex.secrets import scrub
from dbplex_redis.execute import MOVED, redirection

T = TypeVar("T")

#: renew only our own lease: KEYS[1] lock key, ARGV[1] token, ARGV[2] ttl in ms.
EXTEND = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
)
#: delete only our own lease.
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"


class RedisLock:
    """One source's lock key, on a connection ``connect`` checks out (of the admin pool; on a cluster,
    of the master serving the key) held until :meth:`release`: the heartbeat runs in another
    thread, so it must not share a caller's connection.

    ``moved`` is called when the key's slot moved (``MOVED``, ``ASK``, ``TRYAGAIN``: a cluster
    resharded): the lock follows no redirection, it gives its connection back, calls ``moved``
    (which re-reads the slot map) and fails with QueryError, so the next run finds the key's master.
    """

    def __init__(
        self,
        source: Source,
        key: str,
        owner: LockOwner,
        settings: LockSettings,
        connect: Callable[[], AbstractContextManager[redis.Redis]],
        moved: Callable[[], None] | None = None,
    ) -> None:
        self.source = source.name
        self._source = source
        self.key = key
        self._token = f"{owner.run_id} {owner.describe()}"
        self._ttl_ms = round(settings.ttl * 1000)
        self._held = Held(connect)
        self._moved = moved

    def _call(self, command: Callable[[redis.Redis], T]) -> T:
        """``command`` on the held connection (checked out on first need)."""
        try:
            return command(self._held.get())
        except redis.exceptions.ResponseError as exc:
            kind = redirection(exc)
            if self._moved is None or kind not in MOVED:
                raise
            self._held.release()
            self._moved()
            raise QueryError(
                f"source {self.source!r}: the lock key {self.key}'s hash slot moved ({kind} {scrub(str(exc))}); "
                "the slot map was read again: run it again once any resharding is done"
            ) from None

    def describe(self) -> str:
        return (
            f"SET {self.key} <run token> NX PX {self._ttl_ms}, renewed every {self._ttl_ms / 3000:g} s and released "
            "by Lua scripts that check the token; a run that dies loses it when it expires"
        )

    def try_acquire(self) -> bool:
        return bool(self._call(lambda client: client.set(self.key, self._token, nx=True, px=self._ttl_ms)))

    def holder(self) -> str | None:
        value, left = self._call(lambda client: (client.get(self.key), client.pttl(self.key)))
        if value is None:
            return None
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        holder = text.partition(" ")[2] or "another run"
        return f"{holder} (expires in {max(left, 0) / 1000:.0f} s)"

    def extend(self) -> bool:
        return bool(self._call(lambda client: client.eval(EXTEND, 1, self.key, self._token, self._ttl_ms)))

    def release(self) -> None:
        if not self._held.held:
            return
        try:
            self._call(lambda client: client.eval(RELEASE, 1, self.key, self._token))
        finally:
            self._held.release()
