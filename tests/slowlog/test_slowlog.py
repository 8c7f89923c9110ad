"""Slow operations against the test session's real servers: what is logged and kept client side,
what each server keeps (``pg_stat_statements``, Redis ``SLOWLOG``, the MongoDB profiler), what
``dbplex slowlog`` prints, and that no planted parameter value shows while redaction is on."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import dbplex
from dbplex import Get, Put
from dbplex.slowlog import SlowEntry, SlowLogUnavailable
from dbplex.slowlog.recorder import SlowPlugin
from dbplex.testing.plugin import Servers
from dbplex_pg.ops import SQL
from dbplex_redis.ops import Command

Open = Callable[..., dbplex.Hub]


@pytest.fixture
def slow_hub(dbplex_servers: Servers, open_config: Callable[[dict[str, Any]], dbplex.Hub]) -> Open:
    """``slow_hub(*backends, threshold_ms=..., redact=...)``: a hub with one source per backend,
    named after it, each with that ``[sources.X.slow]``."""

    def make(*backends: str, **slow: Any) -> dbplex.Hub:
        return open_config({"sources": {b: {"url": dbplex_servers.url(b), "slow": slow} for b in backends}})

    return make


@pytest.fixture
def planted() -> str:
    """A value that must not show anywhere while redacting."""
    return f"planted-{uuid.uuid4().hex}"


def slow_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "dbplex.slow" and hasattr(r, "slow_entry")]


def shown(record: logging.LogRecord) -> str:
    """Everything a log handler could print of a record: its message and its structured entry."""
    return record.getMessage() + msgspec.json.encode(record.slow_entry).decode()


# -- client side ------------------------------------------------------------------------------------


def test_an_op_over_the_threshold_is_logged_with_duration_pool_wait_source_and_endpoint(
    slow_hub: Open, caplog: pytest.LogCaptureFixture, planted: str
) -> None:
    hub = slow_hub("pg", threshold_ms=1)
    caplog.set_level(logging.WARNING, logger="dbplex.slow")
    hub.execute("pg", SQL("select pg_sleep(0.05), %s::text as v", [planted]))
    (record,) = slow_records(caplog)
    entry: SlowEntry = record.slow_entry
    assert record.levelno == logging.WARNING
    assert (entry.source, entry.endpoint, entry.origin, entry.error) == ("pg", "pg", "client", None)
    assert entry.duration_ms >= 1
    assert entry.pool_wait_ms is not None and entry.pool_wait_ms >= 0
    assert entry.at is not None
    assert entry.operation == 'pg.sql {"text":"select pg_sleep(?), %s::text as v","params":["?"]}'
    assert planted not in shown(record)
    assert hub.slow_operations() == [entry]


def test_an_op_under_the_threshold_is_not_logged(
    slow_hub: Open, caplog: pytest.LogCaptureFixture, unique_table: str
) -> None:
    hub = slow_hub("pg", threshold_ms=60_000)
    caplog.set_level(logging.DEBUG, logger="dbplex.slow")
    hub.execute("pg", Put(table=unique_table, key="k", values={"a": 1}))
    hub.execute("pg", Get(table=unique_table, key="k"))
    assert slow_records(caplog) == []
    assert hub.slow_operations() == []


def test_without_a_threshold_nothing_wraps_an_operation(slow_hub: Open) -> None:
    hub = slow_hub("pg", "redis")
    assert hub.slow is None
    assert not any(isinstance(p, SlowPlugin) for p in hub.plugins.manager.get_plugins())
    assert hub.slow_operations() == []


def test_closing_the_hub_unregisters_its_recorder(slow_hub: Open) -> None:
    hub = slow_hub("redis", threshold_ms=0)
    recorder = hub.slow
    assert recorder is not None and hub.plugins.manager.is_registered(recorder)
    hub.close()
    assert not hub.plugins.manager.is_registered(recorder)


@pytest.mark.parametrize("backend", ["pg", "mongo", "redis"])
def test_record_ops_show_table_and_field_names_but_no_key_or_value(
    slow_hub: Open, caplog: pytest.LogCaptureFixture, planted: str, unique_table: str, backend: str
) -> None:
    hub = slow_hub(backend, threshold_ms=0)  # every operation is slow
    caplog.set_level(logging.WARNING, logger="dbplex.slow")
    hub.execute(backend, Put(table=unique_table, key=planted, values={"email": planted, "n": 7}))
    hub.execute(backend, Get(table=unique_table, key=planted, fields=["email"]))
    records = slow_records(caplog)
    assert [r.slow_entry.operation for r in records] == [
        f'put {{"table":"{unique_table}","key":"?","values":{{"email":"?","n":"?"}}}}',
        f'get {{"table":"{unique_table}","key":"?","fields":["email"]}}',
    ]
    for record in records:
        assert planted not in shown(record)
        assert record.slow_entry.endpoint == backend
        assert record.slow_entry.pool_wait_ms is not None  # each backend's pool tells its wait
    assert planted not in msgspec.json.encode(hub.slow_operations()).decode()


def test_with_redact_false_the_values_show(
    slow_hub: Open, caplog: pytest.LogCaptureFixture, planted: str, unique_table: str
) -> None:
    hub = slow_hub("redis", threshold_ms=0, redact=False)
    caplog.set_level(logging.WARNING, logger="dbplex.slow")
    hub.execute("redis", Put(table=unique_table, key="k1", values={"email": planted}))
    (record,) = slow_records(caplog)
    assert (
        record.slow_entry.operation == f'put {{"table":"{unique_table}","key":"k1","values":{{"email":"{planted}"}}}}'
    )


def test_a_failed_slow_op_names_its_error(slow_hub: Open, caplog: pytest.LogCaptureFixture, planted: str) -> None:
    hub = slow_hub("pg", threshold_ms=0)
    caplog.set_level(logging.WARNING, logger="dbplex.slow")
    with pytest.raises(dbplex.QueryError):
        hub.execute("pg", SQL(f"select no_such_column_{uuid.uuid4().hex[:8]} where '{planted}' = ''"))
    (record,) = slow_records(caplog)
    assert record.slow_entry.error == "QueryError"
    assert planted not in shown(record)


def test_redis_commands_show_their_name_only(slow_hub: Open, caplog: pytest.LogCaptureFixture, planted: str) -> None:
    hub = slow_hub("redis", threshold_ms=0)
    caplog.set_level(logging.WARNING, logger="dbplex.slow")
    hub.execute("redis", Command(["SET", f"slowlog-test:{planted}", planted]))
    (record,) = slow_records(caplog)
    assert record.slow_entry.operation == 'redis.command {"args":"SET ? ?"}'


# -- server side -----------------------------------------------------------------------------------


def test_pg_stat_statements_lists_a_statement_the_test_ran_without_its_values(slow_hub: Open, planted: str) -> None:
    hub = slow_hub("pg")
    marker = f"slowlog_{uuid.uuid4().hex[:12]}"
    try:
        hub.slowlog("pg").entries(1, True)  # creates the extension where it is loaded and missing
    except SlowLogUnavailable as exc:
        pytest.skip(f"this PostgreSQL keeps no pg_stat_statements (the sandbox's does): {exc}")
    # the CTE's name tells this statement apart: the server merges statements differing only in constants and aliases
    hub.execute("pg", SQL(f"with {marker} as (select %s::text as v) select pg_sleep(0.02), v from {marker}", [planted]))
    entries = hub.slowlog("pg").entries(1000, True)
    (ours,) = [e for e in entries if marker in e.operation]
    assert ours.origin == "pg_stat_statements" and ours.source == "pg"
    assert ours.calls == 1 and ours.duration_ms > 0
    assert "pg_sleep($" in ours.operation  # normalised by the server: no constant left
    assert planted not in msgspec.json.encode(entries).decode()
    assert [e.duration_ms for e in entries] == sorted((e.duration_ms for e in entries), reverse=True)


@pytest.fixture
def redis_logs_everything(slow_hub: Open) -> Iterator[None]:
    """The test Redis keeps every command in its SLOWLOG while the test runs; restored afterwards."""
    hub = slow_hub("redis")
    (row,) = hub.execute("redis", Command(["CONFIG", "GET", "slowlog-log-slower-than"])).rows
    before = row["value"]["slowlog-log-slower-than"]
    hub.execute("redis", Command(["CONFIG", "SET", "slowlog-log-slower-than", "0"]))
    yield
    hub.execute("redis", Command(["CONFIG", "SET", "slowlog-log-slower-than", before]))


@pytest.mark.usefixtures("redis_logs_everything")
def test_redis_slowlog_entries_show_commands_without_their_arguments(slow_hub: Open, planted: str) -> None:
    hub = slow_hub("redis")
    hub.execute("redis", Command(["SET", f"slowlog-test:{planted}", planted]))
    entries = hub.slowlog("redis").entries(1000, True)
    assert entries, "SLOWLOG GET returned nothing with slowlog-log-slower-than 0"
    assert all(e.origin == "slowlog" and e.source == "redis" and e.at is not None for e in entries)
    assert "SET ? ?" in [e.operation for e in entries]
    assert planted not in msgspec.json.encode(entries).decode()
    unredacted = hub.slowlog("redis").entries(1000, False)
    assert f"SET slowlog-test:{planted} {planted}" in [e.operation for e in unredacted]


def test_a_redis_with_its_slow_log_off_says_how_to_turn_it_on(slow_hub: Open) -> None:
    hub = slow_hub("redis")
    (row,) = hub.execute("redis", Command(["CONFIG", "GET", "slowlog-log-slower-than"])).rows
    before = row["value"]["slowlog-log-slower-than"]
    hub.execute("redis", Command(["CONFIG", "SET", "slowlog-log-slower-than", "-1"]))
    try:
        hub.execute("redis", Command(["SLOWLOG", "RESET"]))
        with pytest.raises(SlowLogUnavailable, match="slowlog-log-slower-than"):
            hub.slowlog("redis").entries(10, True)
    finally:
        hub.execute("redis", Command(["CONFIG", "SET", "slowlog-log-slower-than", before]))


def test_mongo_profiler_entries_or_a_note_saying_why_not(
    slow_hub: Open, dbplex_servers: Servers, planted: str, unique_table: str
) -> None:
    hub = slow_hub("mongo")
    unavailable = None
    try:
        hub.slowlog("mongo").entries(10, True)
    except SlowLogUnavailable as exc:
        unavailable = str(exc)
    if unavailable is not None and dbplex_servers.mongo_kind == "nx-27017":
        assert "no profiler" in unavailable
        pytest.skip(f"the sandbox's MongoDB stand-in (nx-27017) has no profiler: {unavailable}")
    if unavailable is not None:  # a mongod with profiling off: the note says how to turn it on
        assert "setProfilingLevel" in unavailable
    from dbplex_mongo.ops import Find

    with hub.connection("mongo") as database:
        before = database.command("profile", 2)["was"]
        try:
            hub.execute("mongo", Find(collection=unique_table, filter={"email": planted}))
            entries = hub.slowlog("mongo").entries(1000, True)
        finally:
            database.command("profile", before)
    ours = [e for e in entries if unique_table in e.operation]
    assert ours and all(e.origin == "profiler" for e in ours)
    assert planted not in msgspec.json.encode(entries).decode()


# -- the command -----------------------------------------------------------------------------------


def dbplex_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), "slowlog", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.fixture
def config_file(tmp_path: Path, dbplex_servers: Servers) -> Path:
    path = tmp_path / "dbplex.toml"
    path.write_text("".join(f'[sources.{b}]\nurl = "{dbplex_servers.url(b)}"\n\n' for b in ("pg", "redis", "mongo")))
    return path


@pytest.mark.usefixtures("redis_logs_everything")
def test_cli_json_merges_the_sources_slowest_first_without_values(
    slow_hub: Open, config_file: Path, planted: str
) -> None:
    slow_hub("redis").execute("redis", Command(["SET", f"slowlog-test:{planted}", planted]))
    proc = dbplex_cli(config_file, "--json", "--limit", "50")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == {"entries", "notes"}
    assert {"source", "origin", "operation", "duration_ms", "at", "calls", "details"} <= set(report["entries"][0])
    assert "redis" in {e["source"] for e in report["entries"]}
    durations = [e["duration_ms"] for e in report["entries"]]
    assert durations == sorted(durations, reverse=True)
    assert all(n["level"] == "info" for n in report["notes"])  # e.g. a MongoDB without a profiler
    assert planted not in proc.stdout + proc.stderr
    table = dbplex_cli(config_file, "redis")
    assert table.returncode == 0, table.stderr
    assert "SET ? ?" in table.stdout and planted not in table.stdout + table.stderr


def test_cli_unknown_source_exits_2_with_one_line(config_file: Path) -> None:
    proc = dbplex_cli(config_file, "nope")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ["Error: unknown source 'nope' (configured: mongo, pg, redis)"]


def test_cli_a_source_that_does_not_answer_is_an_error_note_and_exit_1(
    tmp_path: Path, dbplex_servers: Servers, free_port: int
) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text(
        f'[sources.redis]\nurl = "{dbplex_servers.url("redis")}"\n\n'
        f'[sources.gone]\nurl = "redis://127.0.0.1:{free_port}/0"\nconnect_timeout = 1\n'
    )
    proc = dbplex_cli(config, "--json")
    assert proc.returncode == 1, proc.stderr
    notes = json.loads(proc.stdout)["notes"]
    assert [(n["source"], n["level"]) for n in notes] == [("gone", "error")], notes
    assert str(free_port) in notes[0]["message"]


# -- under asyncio -----------------------------------------------------------------------------------


def test_an_async_op_over_the_threshold_is_logged_and_kept_with_its_task_s_pool_wait(
    dbplex_servers: Servers, caplog: pytest.LogCaptureFixture, planted: str
) -> None:
    caplog.set_level(logging.WARNING, logger="dbplex.slow")

    async def main() -> None:
        config = {"sources": {"pg": {"url": dbplex_servers.url("pg"), "slow": {"threshold_ms": 20}}}}
        async with dbplex.open_async(config) as hub:
            await hub.execute("pg", SQL("select 1, %s::text as v", [planted]))  # under the threshold
            await hub.execute("pg", SQL("select pg_sleep(0.05), %s::text as v", [planted]))
            (record,) = slow_records(caplog)
            entry: SlowEntry = record.slow_entry
            assert (entry.source, entry.endpoint, entry.origin, entry.error) == ("pg", "pg", "client", None)
            assert entry.duration_ms >= 20
            assert entry.pool_wait_ms is not None and entry.pool_wait_ms >= 0
            assert entry.operation == 'pg.sql {"text":"select pg_sleep(?), %s::text as v","params":["?"]}'
            assert planted not in shown(record)
            assert hub.slow_operations() == [entry]

    asyncio.run(main())


def test_a_cancelled_async_op_is_logged_as_failed_and_closing_unregisters_the_recorder(
    dbplex_servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dbplex.slow")

    async def main() -> None:
        config = {"sources": {"redis": {"url": dbplex_servers.url("redis"), "slow": {"threshold_ms": 0}}}}
        hub = dbplex.open_async(config)
        recorder = hub.slow
        assert recorder is not None and hub.plugins.manager.is_registered(recorder)
        blocked = asyncio.create_task(
            hub.execute("redis", Command(["BLPOP", f"slowlog-test:{uuid.uuid4().hex}", "30"]))
        )
        await asyncio.sleep(0.2)  # a bound for BLPOP to be waiting, not a measurement
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        (record,) = slow_records(caplog)
        assert (record.slow_entry.operation, record.slow_entry.error) == (
            'redis.command {"args":"BLPOP ? ?"}',
            "CancelledError",
        )
        await hub.aclose()
        assert not hub.plugins.manager.is_registered(recorder)

    asyncio.run(main())
