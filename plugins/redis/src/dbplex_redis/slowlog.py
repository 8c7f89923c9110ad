"""Redis's server-side slow log: ``SLOWLOG GET``, slowest first.

Redis keeps the last ``slowlog-max-len`` commands (128 by default) that took at least
``slowlog-log-slower-than`` microseconds (10 000 by default; negative turns it off). Every kept
entry is read (``SLOWLOG GET -1``) and the slowest ``limit`` returned. While redacting, a command
shows its name and a ``?`` for each argument: keys and values alike, since keys can be personal
data too (``session:<email>``).
"""

from __future__ import annotations

from typing import Any

from dbplex.backends import Source
from dbplex.pool import Pool
from dbplex.slowlog import SlowEntry, SlowLogUnavailable, redact
from dbplex_redis.health import ask
from dbplex_redis.translate import decode_reply


def _setting(reply: Any) -> int:
    """The value of a one-setting ``CONFIG GET`` reply: a map under RESP3, a name-value list under RESP2."""
    decoded = decode_reply(reply)
    return int(next(iter(decoded.values())) if isinstance(decoded, dict) else decoded[1])


class RedisSlowLog:
    """``SLOWLOG`` of one Redis server, read through the source's admin pool."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self._source = source
        self._admin = admin

    def entries(self, limit: int, redact: bool) -> list[SlowEntry]:
        name = self._source.name
        with self._admin.connection() as client:
            threshold, kept = ask(
                self._source, client, [("CONFIG", "GET", "slowlog-log-slower-than"), ("SLOWLOG", "GET", -1)]
            )
        if isinstance(kept, Exception):  # an ACL refusing SLOWLOG, a server renaming it
            raise SlowLogUnavailable(f"source {name!r}: the server refused SLOWLOG GET: {kept}")
        if not kept and not isinstance(threshold, Exception) and _setting(threshold) < 0:
            raise SlowLogUnavailable(
                f"source {name!r}: the server's slow log is off (slowlog-log-slower-than < 0): "
                "CONFIG SET slowlog-log-slower-than 10000 keeps commands slower than 10 ms"
            )
        entries = [self._entry(item, redact) for item in kept]
        entries.sort(key=lambda e: e.duration_ms, reverse=True)
        return entries[:limit]

    def _entry(self, item: list[Any], redacting: bool) -> SlowEntry:
        # id, unix time, microseconds, arguments, then (Redis >= 4) client address and name
        entry_id, at, micros, args = item[:4]
        details: dict[str, Any] = {"id": int(entry_id)}
        if len(item) >= 6:
            details["client"] = decode_reply(item[4])
            if item[5]:
                details["client_name"] = decode_reply(item[5])
        return SlowEntry(
            source=self._source.name,
            origin="slowlog",
            operation=redact.command(args, redacting),
            duration_ms=int(micros) / 1000,
            at=float(at),
            details=details,
        )
