"""Sources that cannot be reached or entered: clear errors that name the source, never the password.

The machine's server trusts every local login, so a wrong password cannot be refused here; the
checks that the password never shows use failures that happen with one in the URL instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import pytest

import dbplex
from dbplex import Get, Status
from dbplex.errors import SourceUnavailable
from dbplex_pg import SQL

PASSWORD = "pw-Secret-7f3a"


def with_url(url: str, *, port: int | None = None, database: str | None = None, user: str | None = None) -> str:
    """``url`` with a password and, if given, another port, database or user."""
    parts = urlsplit(url)
    host = f"{parts.hostname}:{port or parts.port or 5432}"
    netloc = f"{user or parts.username or 'postgres'}:{PASSWORD}@{host}"
    path = f"/{database}" if database else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def failure(hub: dbplex.Hub) -> str:
    """The error of a first op and of a health check: they must agree."""
    with pytest.raises(SourceUnavailable) as caught:
        hub.execute("pg", Get("t", "k"))
    (check,) = hub.health().sources
    assert check.status is Status.DOWN and check.error == str(caught.value)
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
    return str(caught.value)


def test_a_refused_connection_fails_at_once(make_hub: Callable[..., dbplex.Hub], pg_url: str, free_port: int) -> None:
    message = failure(make_hub(url=with_url(pg_url, port=free_port)))
    assert message.startswith(f"source 'pg': cannot connect to 127.0.0.1:{free_port}/")
    assert message.endswith("as user 'postgres': connection refused")


def test_a_silent_server_times_out_within_connect_timeout(
    make_hub: Callable[..., dbplex.Hub], pg_url: str, silent_port: int
) -> None:
    hub = make_hub(url=with_url(pg_url, port=silent_port), connect_timeout=2)
    started = time.monotonic()
    message = failure(hub)
    assert time.monotonic() - started < 30  # two attempts (op and health) of 2 s each, with room for a slow machine
    assert message.endswith("timed out after 2s (connect_timeout)")
    assert f"127.0.0.1:{silent_port}" in message


def test_a_missing_database_is_named(make_hub: Callable[..., dbplex.Hub], pg_url: str) -> None:
    message = failure(make_hub(url=with_url(pg_url, database="no_such_db_dbplex")))
    assert message.endswith("/no_such_db_dbplex as user 'postgres': database \"no_such_db_dbplex\" does not exist")


def test_an_unknown_user_is_named(make_hub: Callable[..., dbplex.Hub], pg_url: str) -> None:
    message = failure(make_hub(url=with_url(pg_url, user="no_such_role_dbplex")))
    # a server that checks passwords does not say whether the role exists (scram hides it)
    refused = (
        'role "no_such_role_dbplex" does not exist',
        'password authentication failed for user "no_such_role_dbplex"',
    )
    assert any(f"as user 'no_such_role_dbplex': {reason}" in message for reason in refused), message


def test_a_bad_port_in_the_url_is_reported_without_the_password(make_hub: Callable[..., dbplex.Hub]) -> None:
    message = failure(make_hub(url=f"postgresql://app:{PASSWORD}@127.0.0.1:notaport/app"))
    assert message.startswith("source 'pg': cannot connect to 127.0.0.1:notaport/app as user 'app'")
    assert 'invalid integer value "notaport"' in message


def test_one_unreachable_source_leaves_the_others_working(pg_url: str, free_port: int) -> None:
    sources = {"good": {"url": pg_url}, "gone": {"url": with_url(pg_url, port=free_port), "required": False}}
    with dbplex.open({"sources": sources}) as hub:
        report = hub.health()
        assert hub.execute("good", SQL("select 1")).scalar() == 1
    assert {c.source: c.status for c in report.sources} == {"good": Status.UP, "gone": Status.DOWN}
    assert report.status is Status.DEGRADED and report.ready
