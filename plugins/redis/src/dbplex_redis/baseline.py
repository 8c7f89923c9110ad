"""The raw-driver baseline of ``dbplex bench``: redis-py doing the record ops by hand.

It makes the requests a careful redis-py user would make against the backend's layout (a hash
per record with MessagePack values and the marker field, a sorted-set index, writes as the
backend's Lua scripts; see :mod:`dbplex_redis.translate`): a ``redis.Redis`` client over a
``BlockingConnectionPool`` of the benchmark's size speaking RESP3 as the backend does, the
client's own commands (``HGETALL``, ``HMGET``, ``ZRANGEBYLEX``, a non-transactional pipeline),
and scripts registered with ``register_script`` (``EVALSHA``, loading them when missing).
"""

from __future__ import annotations

from typing import Any

import msgspec
import redis

from dbplex.backends import Source
from dbplex_redis.options import RedisOptions
from dbplex_redis.translate import DELETE, KEYS, MARKER, PUT, UPDATE, from_key, ttl_ms

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder().decode


def _pairs(values: dict[str, Any]) -> list[Any]:
    flat: list[Any] = []
    for name, value in values.items():
        flat.append(name)
        flat.append(_pack(value))
    return flat


def _record(found: dict[bytes, bytes]) -> dict[str, Any] | None:
    return {name.decode(): _unpack(data) for name, data in found.items() if name} if found else None


def _selected(fields: list[str], reply: Any) -> dict[str, Any] | None:
    """An ``HMGET`` of the marker and ``fields``: the record's fields, None when it does not exist."""
    marker, *found = reply
    if marker is None:
        return None
    return {name: _unpack(data) for name, data in zip(fields, found, strict=True) if data is not None}


def _scanned(fields: list[str] | None, replies: list[Any]) -> list[Any]:
    if fields is None:
        return [_record(reply) for reply in replies]
    return [[_unpack(data) for data in reply[1:] if data is not None] for reply in replies]


class Requests:
    """What the threaded and the asyncio baseline share: the label, the pool and client of
    ``driver`` (``redis`` or ``redis.asyncio``), the scripts and every request's arguments; the
    baselines only send them."""

    def __init__(self, source: Source, pool_size: int, driver: Any, surface: str = "") -> None:
        self.label = f"redis-py {redis.__version__}{surface}"
        options: RedisOptions = source.options
        self._keys = KEYS[options.prefix]
        self._ttl = ttl_ms(options.ttl)
        self._pool = driver.BlockingConnectionPool.from_url(
            source.url,
            max_connections=pool_size,
            timeout=source.config.pool.timeout,
            socket_connect_timeout=source.config.connect_timeout,
            protocol=3,
        )
        self._client = driver.Redis(connection_pool=self._pool)
        self._put = self._client.register_script(PUT.text)
        self._update = self._client.register_script(UPDATE.text)
        self._delete = self._client.register_script(DELETE.text)

    def _put_args(self, table: str, key: str, values: dict[str, Any]) -> list[Any]:
        return [key, self._ttl, self._keys.records(table), MARKER, MARKER, *_pairs(values)]

    def _update_args(self, table: str, values: dict[str, Any], key: str) -> list[Any]:
        return [key, self._ttl, self._keys.records(table), *_pairs(values)]

    def _reads(self, table: str, members: list[bytes], fields: list[str] | None) -> Any:
        """A non-transactional pipeline reading every record of ``members``, to execute."""
        pipe = self._client.pipeline(transaction=False)
        prefix = self._keys.records(table)
        for member in members:
            record = prefix + member.decode()
            if fields is None:
                pipe.hgetall(record)
            else:
                pipe.hmget(record, [MARKER, *fields])
        return pipe


class RedisBaseline(Requests):
    """Satisfies :class:`dbplex.bench.baseline.Baseline` with redis-py alone."""

    def __init__(self, source: Source, pool_size: int) -> None:
        super().__init__(source, pool_size, redis)
        try:
            self._client.ping()
        except Exception:
            self._pool.disconnect()
            raise

    def get(self, table: str, key: str, fields: list[str] | None) -> dict[str, Any] | None:
        record = self._keys.record(table, key)
        if fields is None:
            return _record(self._client.hgetall(record))
        return _selected(fields, self._client.hmget(record, [MARKER, *fields]))

    def put(self, table: str, key: str, values: dict[str, Any]) -> None:
        self._put(keys=self._keys.of_write(table, key), args=self._put_args(table, key, values))

    def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Every record's script in one non-transactional pipeline: one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for key, values in records:
            self._put(keys=self._keys.of_write(table, key), args=self._put_args(table, key, values), client=pipe)
        pipe.execute()

    def update(self, table: str, key: str, values: dict[str, Any]) -> Any:
        return self._update(keys=self._keys.of_write(table, key), args=self._update_args(table, values, key))

    def delete(self, table: str, key: str) -> Any:
        return self._delete(keys=self._keys.of_write(table, key), args=[key])

    def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> list[Any]:
        """The index, then every record in one pipeline: two round trips."""
        members = self._client.zrangebylex(self._keys.index(table), from_key(start_key), "+", start=0, num=limit)
        return _scanned(fields, self._reads(table, members, fields).execute())

    def read_modify_write(
        self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        found = self.get(table, key, fields)
        self.update(table, key, values)
        return found

    def close(self) -> None:
        self._client.close()
        self._pool.disconnect()
