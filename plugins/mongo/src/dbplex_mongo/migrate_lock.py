"""MongoDB leases: a lease document taken with one atomic findOneAndUpdate.

Migrations hold the lease ``{_id: "migrate"}`` in ``dbplex_schema_lock``; partition maintenance
holds one lease per spec in the same collection (``{_id: "partition:<target>"}``). A lease is
taken when it is free or expired (an upsert: two runs racing for a missing document collide on
``_id``, and one of them gets a duplicate-key error). The holder renews it from the core's
heartbeat; a holder that dies loses it when it expires. Expiry times are milliseconds since the
epoch from the hosts' clocks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from dbplex.backends import Source
from dbplex.migrate import LockOwner, LockSettings
from dbplex.pool import Pool
from dbplex_mongo import errors

COLLECTION = "dbplex_schema_lock"
LEASE_ID = "migrate"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MongoLease:
    """One lease of a source: the migration lock by default, or any other ``lease_id``."""

    def __init__(
        self,
        source: Source,
        pool: Pool,
        owner: LockOwner,
        settings: LockSettings,
        lease_id: str = LEASE_ID,
    ) -> None:
        self.source = source.name
        self._source = source
        self._pool = pool
        self._token = owner.run_id
        self._holder = owner.describe()
        self._ttl_ms = round(settings.ttl * 1000)
        self.lease_id = lease_id

    def describe(self) -> str:
        return (
            f"db.{COLLECTION}.findOneAndUpdate({{_id: '{self.lease_id}', $or: [{{expires_at_ms: {{$lt: <now>}}}}, {{owner: '{self._token}'}}]}}, "
            f"{{$set: {{owner: '{self._token}', expires_at_ms: <now + {self._ttl_ms}>}}}}, {{upsert: true}}): "
            f"a lease of {self._ttl_ms / 1000:g} s renewed every {self._ttl_ms / 3000:g} s; a run that dies loses it when it expires"
        )

    @contextmanager
    def _collection(self) -> Iterator[Collection[dict[str, Any]]]:
        """The lease collection, inside a checkout of the pool (each call is one)."""
        with self._pool.connection() as db:
            yield db[COLLECTION]

    def try_acquire(self) -> bool:
        now = _now_ms()
        try:
            with self._collection() as leases:
                lease = leases.find_one_and_update(
                    {"_id": self.lease_id, "$or": [{"expires_at_ms": {"$lt": now}}, {"owner": self._token}]},
                    {"$set": {"owner": self._token, "holder": self._holder, "expires_at_ms": now + self._ttl_ms}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
        except DuplicateKeyError:  # held by someone else: the upsert collided with their lease
            return False
        except errors.DRIVER_ERRORS as exc:
            raise errors.translate(self._source, exc, f"taking the lease {self.lease_id!r}") from exc
        return lease is not None and lease.get("owner") == self._token

    def holder(self) -> str | None:
        try:
            with self._collection() as leases:
                lease = leases.find_one({"_id": self.lease_id})
        except errors.DRIVER_ERRORS:
            return None
        if lease is None:
            return None
        left = (int(lease.get("expires_at_ms", 0)) - _now_ms()) / 1000
        return f"{lease.get('holder', 'another run')} (lease expires in {max(left, 0):.0f} s)"

    def extend(self) -> bool:
        with self._collection() as leases:
            result = leases.update_one(
                {"_id": self.lease_id, "owner": self._token}, {"$set": {"expires_at_ms": _now_ms() + self._ttl_ms}}
            )
        return result.matched_count == 1

    def release(self) -> None:
        with self._collection() as leases:
            leases.delete_one({"_id": self.lease_id, "owner": self._token})
