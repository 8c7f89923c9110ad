"""Publish/subscribe: a subscription is a stream, so it is an object to read from, not an op.

>>> with dbplex_redis.subscribe(hub, "events", ["orders"]) as sub:   # doctest: +SKIP
...     hub.execute("events", dbplex_redis.Publish("orders", "created 42"))
...     sub.get(timeout=1.0)
Message(channel='orders', data='created 42', pattern=None)

Publishing is the ``redis.publish`` op. Channel names are used as given: the source's
``prefix`` applies to record keys only.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import msgspec

from dbplex.errors import OpError, SourceUnavailable, UnsupportedError
from dbplex.secrets import scrub
from dbplex_redis.translate import decode_reply

if TYPE_CHECKING:
    from redis.client import PubSub

    from dbplex.hub import Hub

_MESSAGES = frozenset({"message", "pmessage"})
_CONFIRMATIONS = frozenset({"subscribe", "psubscribe"})


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One published message; ``pattern`` is the pattern that matched, for pattern subscriptions."""

    channel: str
    #: str when the payload is valid UTF-8 and the subscription decodes, else bytes.
    data: Any
    pattern: str | None = None


class Subscription:
    """Messages on some channels and patterns, from when the subscription was confirmed.

    Holds one pooled connection (a checkout of the source's pool) until :meth:`close` (or the
    end of a ``with`` block). Pub/sub
    delivers at most once: messages published while no subscription is open, or while its
    connection is broken, are not delivered. A broken connection ends the subscription with
    :class:`~dbplex.errors.SourceUnavailable`.
    """

    def __init__(
        self,
        source: str,
        pubsub: PubSub,
        channels: Iterable[str],
        patterns: Iterable[str],
        decode: bool,
        timeout: float,
        lease: ExitStack,
    ) -> None:
        self.source = source
        self._pubsub = pubsub
        #: the checkout of the source's pool this subscription holds.
        self._lease = lease
        self._decode = decode
        self._early: deque[Message] = deque()
        wanted = len(dict.fromkeys(channels)) + len(dict.fromkeys(patterns))
        try:
            if channels:
                pubsub.subscribe(*channels)
            if patterns:
                pubsub.psubscribe(*patterns)
            self._await_confirmations(wanted, timeout)
        except BaseException:
            self.close()
            raise

    def _await_confirmations(self, wanted: int, timeout: float) -> None:
        """Return once the server has confirmed every subscription, so no later publish is missed."""
        deadline = time.monotonic() + timeout
        while wanted:
            raw = self._read(deadline - time.monotonic())
            if raw is None:
                if time.monotonic() >= deadline:
                    raise SourceUnavailable(f"source {self.source!r}: subscription not confirmed within {timeout:g}s")
            elif raw["type"] in _CONFIRMATIONS:
                wanted -= 1
            elif raw["type"] in _MESSAGES:
                self._early.append(self._message(raw))

    def _read(self, timeout: float | None) -> dict[str, Any] | None:
        import redis.exceptions

        try:
            # redis-py blocks on timeout=None, though its annotation says float.
            wait = None if timeout is None else max(timeout, 0.0)
            return self._pubsub.get_message(timeout=wait)  # type: ignore[arg-type, no-any-return]
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise SourceUnavailable(
                f"source {self.source!r}: subscription connection lost: {scrub(str(exc))}"
            ) from None

    def _message(self, raw: dict[str, Any]) -> Message:
        data = raw["data"]
        pattern = raw.get("pattern")
        return Message(
            channel=decode_reply(raw["channel"]),
            data=decode_reply(data) if self._decode else data,
            pattern=None if pattern is None else decode_reply(pattern),
        )

    def get(self, timeout: float | None = None) -> Message | None:
        """The next message, waiting up to ``timeout`` seconds (None: until one arrives)."""
        if self._early:
            return self._early.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            raw = self._read(None if deadline is None else deadline - time.monotonic())
            if raw is not None and raw["type"] in _MESSAGES:
                return self._message(raw)
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def __iter__(self) -> Iterator[Message]:
        """Every message, as it arrives, until the subscription is closed or its connection breaks."""
        while True:
            message = self.get()
            if message is not None:
                yield message

    def close(self) -> None:
        """End the subscription: redis-py closes its connection, and the checkout goes back to the
        pool (which opens the connection again when it is next used)."""
        try:
            self._pubsub.close()
        finally:
            self._lease.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def subscribe(
    hub: Hub, source: str, channels: Iterable[str] = (), *, patterns: Iterable[str] = (), decode: bool = True
) -> Subscription:
    """Subscribe to ``channels`` (and glob ``patterns``) on a Redis source of ``hub``.

    Returns once the server has confirmed the subscriptions (waiting at most the source's
    ``connect_timeout``), so every message published afterwards is delivered.
    """
    backend = hub.backend(source)
    if backend.name != "redis":
        raise UnsupportedError(f"source {source!r}: subscribe needs a Redis source, not backend {backend.name!r}")
    channels, patterns = list(channels), list(patterns)
    if not channels and not patterns:
        raise OpError("subscribe: give at least one channel or pattern")
    timeout = hub.sources[source].config.connect_timeout
    lease = ExitStack()
    client = lease.enter_context(hub.connection(source))
    try:
        pubsub = client.pubsub()
    except BaseException:
        lease.close()
        raise
    return Subscription(source, pubsub, channels, patterns, decode, timeout, lease)
