"""The Redis backend's own ops, for what the uniform record ops cannot say.

Command arguments are str, bytes, int or float (from JSON: strings and numbers). They go to
the server as given: the source's ``prefix`` applies only to the keys of uniform record ops.
Replies come back raw, as the server sent them (no redis-py reply parsing), one row
``{"value": reply}`` per reply; with ``decode`` (the default) every bulk string that is valid
UTF-8 becomes str, so replies read naturally and survive JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dbplex.errors import OpError
from dbplex.ops import Op
from dbplex_redis.translate import check_command


class Command(Op, frozen=True, tag="redis.command"):
    """One raw command, e.g. ``Command(["INCRBY", "hits", 5])`` or ``Command(["EXPIRE", "k", 60])``."""

    #: the command name and its arguments: str, bytes, int or float.
    args: list[Any]
    redaction: ClassVar[Mapping[str, str]] = {"args": "command"}
    #: turn bulk strings that are valid UTF-8 into str; False keeps every bulk string as bytes.
    decode: bool = True

    def __post_init__(self) -> None:
        check_command(self.args)


class Pipeline(Op, frozen=True, tag="redis.pipeline"):
    """Several raw commands in one round trip; one row per reply, in order.

    With ``transaction`` (the default) they run inside MULTI/EXEC: no other client's command
    runs in between. Redis has no rollback: if one command fails at run time, the others still
    ran. A command the server refuses to queue (unknown, wrong arity) aborts them all.
    A failed command raises :class:`~dbplex.errors.QueryError` unless ``raise_on_error`` is
    false, in which case its row is ``{"error": message}``.
    """

    commands: list[list[Any]]
    redaction: ClassVar[Mapping[str, str]] = {"commands": "command"}
    transaction: bool = True
    raise_on_error: bool = True
    decode: bool = True

    def __post_init__(self) -> None:
        for args in self.commands:
            check_command(args)


class Publish(Op, frozen=True, tag="redis.publish"):
    """Send ``message`` to ``channel``; ``affected`` is the number of subscribers that received it."""

    channel: str
    #: str or bytes.
    message: Any

    def __post_init__(self) -> None:
        if not isinstance(self.message, str | bytes):
            raise OpError(f"redis.publish message {self.message!r}: must be str or bytes")


OPS: tuple[type[Op], ...] = (Command, Pipeline, Publish)
