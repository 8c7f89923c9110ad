"""Bad input on a real server: wrong credentials, nothing listening, a silent server, bad URLs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

import dbplex
from dbplex import Get, Put, Status
from dbplex.errors import ConfigError, SourceUnavailable
from dbplex_redis.pool import connect


@pytest.fixture
def make_acl_user(raw: redis.Redis) -> Iterator[Callable[..., tuple[str, str]]]:
    """``make_acl_user(*commands)`` creates a Redis ACL user of our own (name, password); deleted afterwards."""
    names: list[str] = []

    def make(*commands: str) -> tuple[str, str]:
        name, password = f"dbplex_test_{uuid.uuid4().hex[:8]}", f"right-{uuid.uuid4().hex[:8]}"
        rules = list(commands) or ["+@all"]
        raw.acl_setuser(name, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"], commands=rules)
        names.append(name)
        return name, password

    yield make
    if names:
        raw.acl_deluser(*names)


@pytest.fixture
def acl_user(make_acl_user: Callable[..., tuple[str, str]]) -> tuple[str, str]:
    """A Redis ACL user of our own that may run every command."""
    return make_acl_user()


def test_wrong_password_is_unavailable_and_never_shown(
    make_hub: Callable[..., dbplex.Hub], redis_url: str, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    wrong = f"wrong-{uuid.uuid4().hex[:8]}"
    hub = make_hub(url=redis_url.replace("redis://", f"redis://{name}:{wrong}@"))
    with pytest.raises(
        SourceUnavailable, match=f"source 'r': cannot connect to .*: authentication failed for user '{name}'"
    ) as info:
        hub.execute("r", Get("t", "k"))
    check = hub.health().sources[0]
    assert check.status is Status.DOWN and check.error and "authentication failed" in check.error
    for text in (str(info.value), check.error):
        assert wrong not in text and password not in text
    good = make_hub(url=redis_url.replace("redis://", f"redis://{name}:{password}@"))
    assert good.execute("r", Get("t", "k")).rows == []


def test_nothing_listening_is_unavailable_naming_source_and_address(
    make_hub: Callable[..., dbplex.Hub], free_port: int
) -> None:
    hub = make_hub(url=f"redis://127.0.0.1:{free_port}/0", connect_timeout=2)
    with pytest.raises(
        SourceUnavailable, match=f"source 'r': cannot connect to 127.0.0.1:{free_port}: connection refused"
    ):
        hub.execute("r", Get("t", "k"))
    with pytest.raises(SourceUnavailable, match="connection refused"):
        connect(hub.sources["r"])


def test_a_server_that_never_answers_gives_up_within_connect_timeout(
    make_hub: Callable[..., dbplex.Hub], silent_port: int
) -> None:
    hub = make_hub(url=f"redis://127.0.0.1:{silent_port}/0", connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match=r"cannot connect to .*: no answer within 0.5s"):
        hub.execute("r", Get("t", "k"))
    assert time.monotonic() - started < 10  # generous: without the bound it would wait forever
    check = hub.health().sources[0]
    assert check.status is Status.DOWN and "no answer" in (check.error or "")


def test_pool_counts_failed_connection_attempts(make_hub: Callable[..., dbplex.Hub], free_port: int) -> None:
    hub = make_hub(
        url=f"redis://127.0.0.1:{free_port}/0",
        pool={"min_size": 0, "max_size": 2, "reconnect_min": 30, "reconnect_max": 30},
    )
    with pytest.raises(SourceUnavailable, match="connection refused"):
        hub.execute("r", Get("t", "k"))
    # within the reconnect backoff, callers fail at once with the last reason instead of each trying
    with pytest.raises(SourceUnavailable, match=r"connection refused \(down for .*s; next attempt in .*s\)"):
        hub.execute("r", Get("t", "k"))
    stats = hub.pool("r").stats()
    assert stats.errors == 1 and stats.created == 0 and stats.size == 0 and stats.used == 0


def test_unix_socket_urls_work(private_server: Path, make_hub: Callable[..., dbplex.Hub]) -> None:
    hub = make_hub(url=f"unix://{private_server}?db=1")
    hub.execute("r", Put("t", "k", {"a": 1}))
    assert hub.execute("r", Get("t", "k")).one()["values"] == {"a": 1}
    with pytest.raises(SourceUnavailable, match=r"cannot connect to /.*missing.sock: no such socket file"):
        make_hub(url=f"unix://{private_server.parent}/missing.sock").execute("r", Get("t", "k"))


def test_a_bad_url_query_is_a_config_error(make_hub: Callable[..., dbplex.Hub], redis_url: str) -> None:
    hub = make_hub(url=f"{redis_url}?socket_timeout=soon")
    with pytest.raises(ConfigError, match="source 'r': Invalid value for 'socket_timeout'"):
        hub.execute("r", Get("t", "k"))


def test_socket_timeout_bounds_a_slow_command(make_hub: Callable[..., dbplex.Hub], prefix: str) -> None:
    from dbplex_redis import Command

    hub = make_hub(options={"socket_timeout": 0.2})
    with pytest.raises(
        SourceUnavailable, match=r"source 'r': connection to .* lost: no reply within 0.2s \(operation timeout\)"
    ):
        hub.execute("r", Command(["BLPOP", f"{prefix}empty", 5]))
    assert hub.execute("r", Get("t", "k")).rows == []  # the next checkout opens a fresh connection


def test_tls_urls_work(tls_server: str, make_hub: Callable[..., dbplex.Hub]) -> None:
    hub = make_hub(url=tls_server)
    hub.execute("r", Put("t", "k", {"a": 1}))
    assert hub.execute("r", Get("t", "k")).one()["values"] == {"a": 1}
    assert hub.health().sources[0].status is Status.UP


def test_a_tls_handshake_that_never_completes_gives_up_within_connect_timeout(
    make_hub: Callable[..., dbplex.Hub], silent_port: int
) -> None:
    hub = make_hub(url=f"rediss://127.0.0.1:{silent_port}/0", connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match=r"cannot connect to .*: no answer within 0.5s"):
        hub.execute("r", Get("t", "k"))
    assert time.monotonic() - started < 10  # generous: without the bound the TLS handshake waits forever


def test_health_is_up_for_a_user_who_may_not_run_info(
    make_hub: Callable[..., dbplex.Hub], redis_url: str, make_acl_user: Callable[..., tuple[str, str]]
) -> None:
    name, password = make_acl_user("+@all", "-info", "-role")
    hub = make_hub(url=redis_url.replace("redis://", f"redis://{name}:{password}@"))
    (check,) = hub.health().sources
    assert check.status is Status.UP and check.server_version is None and check.details == {}
    assert hub.health().sources[0].status is Status.UP  # the connection stayed in step


def _without_database(url: str) -> str:
    """``redis://host:port/0`` -> ``redis://host:port``."""
    head = url.split("?")[0]
    return head.rsplit("/", 1)[0] if head.count("/") > 2 else head


@pytest.mark.parametrize("path", ["/notadb", "/1/2", "/-1", "/0x1"])
def test_a_url_path_that_is_not_a_database_number_is_a_config_error(
    make_hub: Callable[..., dbplex.Hub], redis_url: str, path: str
) -> None:
    hub = make_hub(url=f"{_without_database(redis_url)}{path}")
    with pytest.raises(ConfigError, match="source 'r': the URL's path is not a database number"):
        hub.execute("r", Get("t", "k"))


def test_a_url_path_that_is_a_database_number_selects_it(
    make_hub: Callable[..., dbplex.Hub], redis_url: str, raw: redis.Redis, prefix: str
) -> None:
    base = _without_database(redis_url)
    hub = make_hub(url=f"{base}/3/", options={"prefix": prefix})
    hub.execute("r", Put("t", "k", {"a": 1}))
    selected = redis.Redis.from_url(f"{base}/3")
    try:
        assert any(selected.scan_iter(match=f"{prefix}*")) and not any(raw.scan_iter(match=f"{prefix}*"))
        selected.delete(*selected.scan_iter(match=f"{prefix}*"))
    finally:
        selected.close()
