"""An unreachable server: clear errors naming the source, bounded by connect_timeout, no password."""

from __future__ import annotations

import traceback

import pytest

import dbplex
from dbplex import Get, Status
from dbplex.errors import ConfigError, SourceUnavailable
from dbplex_mongo import Find
from dbplex_mongo.client import connect as lone_client

PASSWORD = "s3cret-Pa55"


@pytest.fixture
def gone_url(free_port: int) -> str:
    return f"mongodb://app:{PASSWORD}@127.0.0.1:{free_port}/shop?authSource=admin"


def test_ops_fail_with_the_source_the_address_and_the_reason(gone_url: str, free_port: int) -> None:
    with dbplex.open({"sources": {"gone": {"url": gone_url, "connect_timeout": 1}}}) as hub:
        with hub.connection("gone") as db:  # the wait for a server is the connect timeout
            assert db.client.options.server_selection_timeout == 1
        with pytest.raises(SourceUnavailable) as caught:
            hub.execute("gone", Find("orders"))
        assert str(caught.value) == (
            f"source 'gone': cannot connect to 127.0.0.1:{free_port}: Connection refused (gave up after 1 s)"
        )
        assert hub.pool_stats()["gone"].errors == 1


def test_the_password_appears_in_no_message_log_or_traceback(gone_url: str) -> None:
    with dbplex.open({"sources": {"gone": {"url": gone_url, "connect_timeout": 1}}}) as hub:
        with pytest.raises(SourceUnavailable) as caught:
            hub.execute("gone", Get("t", "k"))
        check = hub.health().sources[0]
        shown = [
            str(caught.value),
            "".join(traceback.format_exception(caught.value)),  # includes the driver's own error
            repr(hub.sources["gone"]),
            repr(hub.pool("gone")),
            check.error or "",
        ]
    assert check.status is Status.DOWN and check.error and "gone" in check.error
    for text in shown:
        assert PASSWORD not in text


def test_a_lone_client_gives_up_within_connect_timeout(free_port: int) -> None:
    url = f"mongodb://127.0.0.1:{free_port}/shop"
    pattern = r"source 'gone': cannot connect to 127\.0\.0\.1:\d+: .*after 1 s"
    with (
        dbplex.open({"sources": {"gone": {"url": url, "connect_timeout": 1}}}) as hub,
        pytest.raises(SourceUnavailable, match=pattern),
    ):
        lone_client(hub.sources["gone"])


@pytest.mark.parametrize(
    "url", [f"mongodb://app:{PASSWORD}@127.0.0.1:port/db", "mongodb://127.0.0.1,127.0.0.2/db?directConnection=true"]
)
def test_a_malformed_url_is_a_configuration_error(url: str) -> None:
    with (
        dbplex.open({"sources": {"bad": {"url": url}}}) as hub,
        pytest.raises(ConfigError, match="source 'bad': ") as caught,
    ):
        hub.execute("bad", Get("t", "k"))
    assert PASSWORD not in str(caught.value)
