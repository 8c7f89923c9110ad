"""pymongo's exceptions as dbplex errors a user can act on (no password in any message)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bson.errors import BSONError
from pymongo import errors as pe

from dbplex.backends import Source
from dbplex.errors import ConfigError, DbplexError, OpError, QueryError, SourceUnavailable
from dbplex.ops import Op
from dbplex.pooling.waiters import timeout_error
from dbplex.secrets import scrub
from dbplex_mongo.monitor import PoolMonitor
from dbplex_mongo.options import operation_timeout

#: what the driver raises around an op that dbplex turns into its own errors.
DRIVER_ERRORS = (pe.PyMongoError, BSONError, OverflowError)

_AUTHENTICATION_FAILED = 18
_CONFIGURED_TIMEOUTS = re.compile(r" \(configured timeouts: [^)]*\)")
_ERRNO = re.compile(r"\[Errno -?\d+\] ")
_STARTS_WITH_HOST = re.compile(r"^\[?[\w.\-:]+\]?:\d+: ")


def describe(op: Op) -> str:
    """``mongo.find on 'users'``: how messages name an op."""
    tag = type(op).__struct_config__.tag
    target = getattr(op, "table", None) or getattr(op, "collection", None) or getattr(op, "bucket", None)
    return f"{tag} on {target!r}" if target else str(tag)


def _server_message(exc: pe.PyMongoError) -> str:
    details: Any = getattr(exc, "details", None)
    message = details.get("errmsg") if isinstance(details, dict) else None
    return str(message or str(exc).partition(", full error:")[0])


def _unreachable_reason(exc: pe.ConnectionFailure) -> str:
    """The per-server part of a driver message, without its timeout settings and topology dump."""
    text = str(exc).partition(", Timeout: ")[0]
    return _ERRNO.sub("", _CONFIGURED_TIMEOUTS.sub("", text))


def translate(source: Source, exc: BaseException, doing: str, monitor: PoolMonitor | None = None) -> DbplexError:
    """The dbplex error for driver exception ``exc`` raised while ``doing`` something on ``source``
    (``monitor``: the pool's, which knows how many connections a timed-out checkout found in use)."""
    name = source.name
    if isinstance(exc, pe.WaitQueueTimeoutError):
        if monitor is not None:
            return monitor.timeout_error(source)
        return timeout_error(name, source.config.pool.timeout, None, source.config.pool.max_size)
    if isinstance(exc, pe.ServerSelectionTimeoutError):
        reason = scrub(_unreachable_reason(exc))
        where = "cannot connect to " if _STARTS_WITH_HOST.match(reason) else "cannot connect: "
        return SourceUnavailable(
            f"source {name!r}: {where}{reason} (gave up after {source.config.connect_timeout:g} s)"
        )
    if isinstance(exc, pe.NetworkTimeout):
        return SourceUnavailable(
            f"source {name!r}: no reply while {doing} within the operation timeout "
            f"({operation_timeout(source):g}s, operation_timeout): {scrub(_unreachable_reason(exc))}"
        )
    if isinstance(exc, pe.ConnectionFailure):
        return SourceUnavailable(
            f"source {name!r}: lost the connection while {doing}: {scrub(_unreachable_reason(exc))}"
        )
    if isinstance(exc, pe.OperationFailure) and exc.code == _AUTHENTICATION_FAILED:
        return SourceUnavailable(f"source {name!r}: the server rejected the credentials: {scrub(_server_message(exc))}")
    if isinstance(exc, pe.BulkWriteError):
        return QueryError(f"source {name!r}: {doing}: {_bulk_failure(exc.details)}")
    if isinstance(exc, pe.OperationFailure):
        return QueryError(
            f"source {name!r}: {doing}: rejected by the server (code {exc.code}): {scrub(_server_message(exc))}"
        )
    if isinstance(exc, pe.ConfigurationError):
        return ConfigError(f"source {name!r}: {scrub(str(exc))}")
    if isinstance(exc, pe.InvalidName | pe.InvalidOperation | BSONError | OverflowError):
        return OpError(f"source {name!r}: {doing}: {scrub(str(exc))}")
    return QueryError(f"source {name!r}: {doing}: {type(exc).__name__}: {scrub(str(exc))}")


def _bulk_failure(details: Mapping[str, Any]) -> str:
    errors = details.get("writeErrors") or []
    applied = sum(details.get(k, 0) for k in ("nInserted", "nUpserted", "nModified", "nRemoved"))
    if not errors:
        concern = (details.get("writeConcernErrors") or [{}])[0]
        return f"write concern failed: {scrub(str(concern.get('errmsg', 'unknown error')))} ({applied} writes applied)"
    first = errors[0]
    more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
    return (
        f"request {first.get('index')} rejected by the server (code {first.get('code')}): "
        f"{scrub(str(first.get('errmsg', '')))}{more} ({applied} writes applied)"
    )


def op_failure(source: Source, monitor: PoolMonitor | None, op: Op, exc: BaseException) -> DbplexError:
    """What running ``op`` raises for the driver's ``exc``: a server selection that timed out is
    counted as an error first (the driver's pool never saw that attempt)."""
    if monitor is not None and isinstance(exc, pe.ServerSelectionTimeoutError):
        monitor.count("errors")
    return translate(source, exc, describe(op), monitor)
