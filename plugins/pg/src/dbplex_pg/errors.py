"""psycopg's errors as dbplex errors: one line that names the source and never the password."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from dbplex.backends import Source
from dbplex.errors import ConfigError, DbplexError, OpError, QueryError, SourceUnavailable
from dbplex.secrets import scrub


def conninfo(source: Source) -> dict[str, Any]:
    """The connection parameters in ``source``'s URL; a malformed URL is a configuration error."""
    try:
        return conninfo_to_dict(source.url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"source {source.name!r}: not a valid PostgreSQL URL: {scrub(str(exc))}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect_reason(exc: psycopg.Error, timeout: int) -> str:
    """Why a connection attempt failed, in a few words: ``connection refused``, ``timed out ...``."""
    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return f"timed out after {timeout}s (connect_timeout)"
    # libpq: 'connection failed: connection to server at "h", port 1 failed: FATAL:  role "x" does not exist'
    reason = _first_line(exc).rpartition(" failed: ")[2].removeprefix("FATAL:").strip()
    return scrub(reason[:1].lower() + reason[1:])


def _hosts(params: dict[str, Any]) -> str:
    """``host:port``, or ``h1:p1,h2:p2`` for a multi-host URL (one port may serve every host)."""
    hosts = str(params.get("host") or "the default host").split(",")
    ports = str(params.get("port") or 5432).split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    return ",".join(f"{host}:{port}" for host, port in zip(hosts, ports, strict=False))


def unavailable(source: Source, exc: psycopg.Error, timeout: int) -> SourceUnavailable:
    """A failed connection attempt, naming the source, its address and its user."""
    params = conninfo(source)
    user = params.get("user") or "the default user"
    where = _hosts(params) + (f"/{params['dbname']}" if params.get("dbname") else "")
    return SourceUnavailable(
        f"source {source.name!r}: cannot connect to {where} as user {user!r}: {connect_reason(exc, timeout)}"
    )


def query_failure(source_name: str, conn: psycopg.Connection[Any], exc: psycopg.Error) -> DbplexError:
    """An op that failed: a lost connection, a rejected request (client side), or a server error."""
    if conn.broken or conn.closed:
        return SourceUnavailable(f"source {source_name!r}: connection lost: {scrub(_first_line(exc))}")
    if exc.sqlstate is None:  # psycopg refused before sending: bad parameters, NUL in text, ...
        return OpError(f"source {source_name!r}: {scrub(_first_line(exc))}")
    diag = exc.diag
    parts = [f"source {source_name!r}: {diag.message_primary or _first_line(exc)} (SQLSTATE {exc.sqlstate})"]
    if diag.message_detail:
        parts.append(f"detail: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"hint: {diag.message_hint}")
    return QueryError(scrub("; ".join(parts)))
