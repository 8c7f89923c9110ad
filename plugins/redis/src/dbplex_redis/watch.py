"""Redis's :class:`~dbplex.changes.ChangeFeed`: a stream per table, appended by dbplex's own writes.

Once ``install(table)`` has created the stream ``<prefix><table>:changes``, the Lua scripts of
``Put``, ``Update`` and ``Delete`` append each change to it in the same script as the write, so a
change is recorded exactly when it happens; the reader's position is each stream's entry id, from
which ``XREAD`` resumes: at least once, across restarts of the reader. What it cannot see: writes
that bypass dbplex (raw commands, other clients) and records that expire (``ttl``). Keyspace
notifications would see those but are pub/sub, lost while no one listens: at most once.

The stream grows until trimmed (``XTRIM KEY MINID ID`` past the position every reader has stored).
A position is ``TABLE=ID`` per table, joined by ``,``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbplex.backends import Source
from dbplex.changes import Change
from dbplex.errors import ConfigError
from dbplex.pool import Pool
from dbplex_redis.translate import KEYS, values

#: entries read per stream and call.
BATCH = 1000


class RedisChangeFeed:
    """Reads the tables' change streams through ``pool`` (``XREAD BLOCK`` up to the wait asked)."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool
        self.keys = KEYS[source.options.prefix]

    def install(self, table: str) -> None:
        stream = self.keys.changes(table)
        with self.pool.connection() as client:  # an empty stream: a group made and dropped leaves one
            if not client.exists(stream):
                client.xgroup_create(stream, "dbplex-install", id="$", mkstream=True)
                client.xgroup_destroy(stream, "dbplex-install")

    def start(self, tables: Sequence[str], after: str | None) -> str:
        with self.pool.connection() as client:
            missing = [t for t in tables if not client.exists(self.keys.changes(t))]
            if missing:
                raise ConfigError(
                    f"source {self.source.name!r}: the changes of {', '.join(map(repr, missing))} are not recorded; "
                    f"run `dbplex watch --install {self.source.name}.{missing[0]}` first"
                )
            if after is not None:
                ids = _parse(after)
            else:
                ids = {}
                for table in tables:
                    last = client.xrevrange(self.keys.changes(table), count=1)
                    ids[table] = last[0][0].decode() if last else "0-0"
        return _format({t: ids.get(t, "0-0") for t in tables})

    def read(self, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        ids = _parse(after)
        streams = {self.keys.changes(t): ids.get(t, "0-0") for t in tables}
        table_of = {self.keys.changes(t): t for t in tables}
        with self.pool.connection() as client:
            reply = client.xread(streams, count=BATCH, block=max(1, int(wait * 1000)))
        entries: list[tuple[tuple[int, int], str, str, Any]] = []
        for stream, found in _streams(reply):
            table = table_of[stream.decode()]
            for entry_id, fields in found:
                text = entry_id.decode()
                ms, _, seq = text.partition("-")
                entries.append(((int(ms), int(seq)), table, text, fields))
        entries.sort(key=lambda e: (e[0], e[1]))
        changes = []
        for _, table, entry_id, fields in entries:
            ids[table] = entry_id
            changes.append(self._change(table, fields, _format({t: ids.get(t, "0-0") for t in tables})))
        return changes

    def _change(self, table: str, fields: Any, position: str) -> Change:
        pairs = list(fields.items()) if isinstance(fields, dict) else list(zip(fields[::2], fields[1::2], strict=True))
        head = next(value for name, value in pairs if name == b"").decode()
        op, _, key = head.partition(":")
        record = values([part for pair in pairs if pair[0] != b"" for part in pair], None, key) or {}
        return Change(source=self.source.name, table=table, key=key, op=op, values=record, position=position)  # type: ignore[arg-type]

    def close(self) -> None:
        """Nothing held between reads."""


def _streams(reply: Any) -> list[tuple[bytes, list[Any]]]:
    """XREAD's reply as (stream, entries) pairs: RESP3 sends a map, RESP2 a list."""
    if not reply:
        return []
    pairs = list(reply.items()) if isinstance(reply, dict) else [(name, found) for name, found in reply]
    # RESP3 wraps each stream's entries in one more list; an entry itself is a tuple
    return [(name, found[0] if found and isinstance(found[0], list) else found) for name, found in pairs]


def _format(ids: dict[str, str]) -> str:
    return ",".join(f"{table}={entry}" for table, entry in ids.items())


def _parse(position: str) -> dict[str, str]:
    try:
        pairs = [part.split("=", 1) for part in position.split(",")]
        parsed = dict(pairs)
        for entry in parsed.values():
            ms, _, seq = entry.partition("-")
            int(ms), int(seq)
    except ValueError:
        raise ConfigError(f"position {position!r} is not a Redis change position (TABLE=ID,...)") from None
    return parsed
