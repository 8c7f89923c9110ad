"""Redis's :class:`~dbplex.changes.ChangeFeed`: a stream per table, appended by dbplex's own writes.

Once ``install(table)`` has created the stream ``<prefix><table>:changes``, the Lua scripts of
``Put``, ``Update`` and ``Delete`` append each change to it in the same script as the write, so a
change is recorded exactly when it happens; the reader's position is each stream's entry id, from
which ``XREAD`` resumes: at least once, across restarts of the reader. What it cannot see: writes
that bypass dbplex (raw commands, other clients) and records that expire (``ttl``). Keyspace
notifications would see those but are pub/sub, lost while no one listens: at most once.

The stream grows until ``prune(tables, before)`` (``dbplex watch --prune --before POSITION``)
trims it past the position every reader has stored (``XTRIM MINID``), recording that position's id
in ``<prefix><table>:pruned`` so that ``start`` refuses an ``after`` before it; an ``XTRIM`` by hand
leaves no such mark. A position is ``TABLE=ID`` per table, joined by ``,``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbplex.backends import Source
from dbplex.changes import Change
from dbplex.changes.feed import not_recorded, pruned
from dbplex.errors import ConfigError
from dbplex.pool import Pool
from dbplex.steps import Steps, drive
from dbplex_redis.translate import KEYS, values

#: entries read per stream and call.
BATCH = 1000
#: a Redis command and its arguments, as :class:`ChangeSteps` asks them.
Command = tuple[Any, ...]


class ChangeSteps:
    """Starting and reading the change streams as steps (commands out, replies in), without I/O:
    what both the sync feed and :class:`dbplex_redis.aio_watch.AsyncRedisChangeFeed` run."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.keys = KEYS[source.options.prefix]

    def starting(self, tables: Sequence[str], after: str | None) -> Steps[Command, str]:
        """The position to read from (``ChangeFeed.start``): the streams checked, then ``after``
        or each stream's last entry."""
        missing = []
        for table in tables:
            if not (yield ("EXISTS", self.keys.changes(table))):
                missing.append(table)
        if missing:
            raise not_recorded(self.source.name, missing)
        if after is not None:
            ids = _parse(after)
            for table in tables:
                mark = yield ("GET", self.keys.pruned(table))
                if mark is not None and _id(ids.get(table, "0-0")) < _id(mark.decode()):
                    raise pruned(self.source.name, table, after, f"{table}={mark.decode()}")
        else:
            ids = {}
            for table in tables:
                last = yield ("XREVRANGE", self.keys.changes(table), "+", "-", "COUNT", 1)
                ids[table] = last[0][0].decode() if last else "0-0"
        return _format({t: ids.get(t, "0-0") for t in tables})

    def reading(self, tables: Sequence[str], after: str, wait: float) -> Steps[Command, list[Change]]:
        """The changes after ``after``, waiting up to ``wait`` seconds for the first (``XREAD BLOCK``)."""
        ids = _parse(after)
        keys = [self.keys.changes(t) for t in tables]
        block = max(1, int(wait * 1000))
        reply = yield ("XREAD", "COUNT", BATCH, "BLOCK", block, "STREAMS", *keys, *(ids.get(t, "0-0") for t in tables))
        table_of = dict(zip(keys, tables, strict=True))
        entries: list[tuple[tuple[int, int], str, str, Any]] = []
        for stream, found in _streams(reply):
            table = table_of[stream.decode()]
            for entry_id, fields in found:
                text = entry_id.decode()
                entries.append((_id(text), table, text, fields))
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
        return Change(source=self.source.name, table=table, key=key, op=op, values=record, position=position)


class RedisChangeFeed:
    """Reads the tables' change streams through ``pool`` (``XREAD BLOCK`` up to the wait asked)."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool
        self.steps = ChangeSteps(source)
        self.keys = self.steps.keys

    def install(self, table: str) -> None:
        stream = self.keys.changes(table)
        with self.pool.connection() as client:  # an empty stream: a group made and dropped leaves one
            if not client.exists(stream):
                client.xgroup_create(stream, "dbplex-install", id="$", mkstream=True)
                client.xgroup_destroy(stream, "dbplex-install")

    def start(self, tables: Sequence[str], after: str | None) -> str:
        with self.pool.connection() as client:
            return drive(self.steps.starting(tables, after), lambda command: client.execute_command(*command))

    def read(self, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        with self.pool.connection() as client:
            return drive(self.steps.reading(tables, after, wait), lambda command: client.execute_command(*command))

    def prune(self, tables: Sequence[str], before: str) -> int:
        ids = _parse(before)
        missing = [t for t in tables if t not in ids]
        if missing:
            raise ConfigError(f"position {before!r} has no id for {', '.join(map(repr, missing))}")
        trimmed = 0
        with self.pool.connection() as client:
            for table in tables:
                mark = client.get(self.keys.pruned(table))
                if mark is not None and _id(ids[table]) < _id(mark.decode()):
                    raise ConfigError(
                        f"source {self.source.name!r}: {table!r} was pruned up to {table}={mark.decode()} already, "
                        f"which position {before} does not pass"
                    )
                ms, seq = _id(ids[table])
                # the mark first: should the trim fail, resuming is refused needlessly, never wrongly
                client.set(self.keys.pruned(table), ids[table])
                trimmed += client.xtrim(self.keys.changes(table), minid=f"{ms}-{seq + 1}", approximate=False)
        return trimmed

    def close(self) -> None:
        """Nothing held between reads."""


def _streams(reply: Any) -> list[tuple[bytes, list[Any]]]:
    """XREAD's reply as (stream, entries) pairs: RESP3 sends a map, RESP2 a list."""
    if not reply:
        return []
    pairs = list(reply.items()) if isinstance(reply, dict) else [(name, found) for name, found in reply]
    # RESP3 wraps each stream's entries in one more list; an entry itself is a tuple
    return [(name, found[0] if found and isinstance(found[0], list) else found) for name, found in pairs]


def _id(entry: str) -> tuple[int, int]:
    """A stream entry id as numbers, the order Redis gives them."""
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq)


def _format(ids: dict[str, str]) -> str:
    return ",".join(f"{table}={entry}" for table, entry in ids.items())


def _parse(position: str) -> dict[str, str]:
    try:
        pairs = [part.split("=", 1) for part in position.split(",")]
        parsed = dict(pairs)
        for entry in parsed.values():
            _id(entry)
    except ValueError:
        raise ConfigError(f"position {position!r} is not a Redis change position (TABLE=ID,...)") from None
    return parsed
