"""The Redis migration lock: ``SET key token NX PX ttl``, renewed and released by token.

The value is the run's token (its run id and who it is), so renewing and releasing check in one
Lua script that the key still holds this run's token: a run whose lease expired and was taken
over can neither extend nor delete the new holder's lock. A run that dies loses the key when it
expires.
"""

from __future__ import annotations

import redis

from dbplex.backends import Source
from dbplex.binding import Held
from dbplex.migrate import LockOwner, LockSettings
from dbplex.pool import Pool

#: renew only our own lease: KEYS[1] lock key, ARGV[1] token, ARGV[2] ttl in ms.
EXTEND = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
)
#: delete only our own lease.
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"


class RedisLock:
    """One source's lock key, on a connection of ``pool`` (the admin pool) held until :meth:`release`:
    the heartbeat runs in another thread, so it must not share a caller's connection."""

    def __init__(self, source: Source, key: str, owner: LockOwner, settings: LockSettings, pool: Pool) -> None:
        self.source = source.name
        self._source = source
        self.key = key
        self._token = f"{owner.run_id} {owner.describe()}"
        self._ttl_ms = round(settings.ttl * 1000)
        self._held = Held(pool)

    def _redis(self) -> redis.Redis:
        client: redis.Redis = self._held.get()
        return client

    def describe(self) -> str:
        return (
            f"SET {self.key} <run token> NX PX {self._ttl_ms}, renewed every {self._ttl_ms / 3000:g} s and released "
            "by Lua scripts that check the token; a run that dies loses it when it expires"
        )

    def try_acquire(self) -> bool:
        return bool(self._redis().set(self.key, self._token, nx=True, px=self._ttl_ms))

    def holder(self) -> str | None:
        client = self._redis()
        value, left = client.get(self.key), client.pttl(self.key)
        if value is None:
            return None
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        holder = text.partition(" ")[2] or "another run"
        return f"{holder} (expires in {max(left, 0) / 1000:.0f} s)"

    def extend(self) -> bool:
        return bool(self._redis().eval(EXTEND, 1, self.key, self._token, self._ttl_ms))

    def release(self) -> None:
        if not self._held.held:
            return
        try:
            self._redis().eval(RELEASE, 1, self.key, self._token)
        finally:
            self._held.release()
