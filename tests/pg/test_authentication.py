"""A wrong password is refused by a real server, named, and never printed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

import dbplex
from dbplex import Get


@pytest.fixture
def role(dbplex_servers: Any) -> Iterator[tuple[str, str, str]]:
    """A login role with a password on the test server: (server url, role, password)."""
    url = dbplex_servers.url("pg")
    name, password = f"dbplex_auth_{uuid.uuid4().hex[:8]}", f"right-{uuid.uuid4().hex}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    yield url, name, password
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE {name}")


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{user}:{password}@{host}", parts.path, parts.query, parts.fragment))


def test_wrong_password_is_named_and_never_printed(role: tuple[str, str, str]) -> None:
    url, name, password = role
    wrong = f"wrong-{uuid.uuid4().hex}"
    try:
        psycopg.connect(with_credentials(url, name, wrong)).close()
    except psycopg.OperationalError:
        pass
    else:
        pytest.skip(
            "this server trusts every login (pg_hba 'trust'), so no password can be wrong; the sandbox checks passwords"
        )
    source = {"url": with_credentials(url, name, wrong), "connect_timeout": 5}
    with dbplex.open({"sources": {"db": source}}) as hub:
        with pytest.raises(dbplex.SourceUnavailable) as info:
            hub.execute("db", Get("t", "k"))
        check = hub.health().sources[0]
    message = str(info.value)
    assert message.startswith("source 'db'") and "password authentication failed" in message
    assert wrong not in message and password not in message
    assert check.status is dbplex.Status.DOWN and wrong not in (check.error or "")


def test_right_password_connects(role: tuple[str, str, str]) -> None:
    url, name, password = role
    with dbplex.open({"sources": {"db": {"url": with_credentials(url, name, password)}}}) as hub:
        assert hub.health().sources[0].status is dbplex.Status.UP
