"""``[sources.<name>.options]`` of a Redis source."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

Seconds = Annotated[float, msgspec.Meta(gt=0)]
_TABLE_CHAR = re.compile(r"[A-Za-z0-9_]")


class RedisOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Settings for one Redis source.

    ``prefix`` starts every key the uniform record ops write, so that sources sharing a server
    (or a database number) cannot see each other's records. ``ttl`` makes the source a cache or
    session store: every record expires that many seconds after it was last written.
    ``socket_timeout`` bounds the wait for a command's reply, overriding the source's
    ``operation_timeout`` (5 s by default; blocking commands such as BLPOP need more than their
    own timeout).
    """

    prefix: str = ""
    ttl: Seconds | None = None
    socket_timeout: Seconds | None = None

    def __post_init__(self) -> None:
        # Table names are identifiers, so a prefix ending in a separator keeps "ap" + "px" and
        # "app" + "x" apart; a prefix ending in a letter, digit or "_" could run into the table.
        if self.prefix and _TABLE_CHAR.fullmatch(self.prefix[-1]):
            raise ValueError(
                f"prefix {self.prefix!r} must end with a separator such as ':' (e.g. {self.prefix + ':'!r})"
            )


class RedisClusterOptions(RedisOptions, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Settings for one Redis Cluster source: those of a Redis source.

    The ``prefix`` may not hold ``{`` or ``}``: a hash tag in it would put every table in one
    slot (or, as ``{}``, none), and the records of a table must share the slot of ``{table}``.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError(f"prefix {self.prefix!r}: a cluster source's prefix may not contain '{{' or '}}'")
