"""A `dbplex migrate up` killed with SIGKILL mid-step, then run again: the step applies once.

PostgreSQL: a killed client's statement can go on running on the server. The next run must not
start the step while it does: the migration lock lives on the session that runs the steps, so
the server frees it only when that statement is over; and the server cancels the statement of a
client that went away (``client_connection_check_interval``, PostgreSQL 14+). Redis: a killed
holder's lease expires after the configured ``[migration_lock] ttl``, and the next run, waiting
for it, applies the step.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dbplex import sandbox
from tests.faults.conftest import eventually, figure
from tests.migrate.conftest import Project

psycopg = pytest.importorskip("psycopg")
redis = pytest.importorskip("redis")

EVENTS = "CREATE TABLE events (n int);\n-- dbplex:down\nDROP TABLE events;\n"
#: the issue's step: one autocommit statement that runs for 6 s and is not safe to run twice.
SLOW_INSERT = "-- dbplex: transaction=false irreversible\nINSERT INTO events (n) SELECT 1 FROM pg_sleep(6);\n"
#: a step written to run again (as autocommit steps should be), on a server that does not check
#: for clients that went away (as before PostgreSQL 14): two attempts at once would both insert.
RERUNNABLE_SLOW_INSERT = (
    "-- dbplex: transaction=false irreversible\n"
    "SET client_connection_check_interval = 0;\n"
    "INSERT INTO events (n) SELECT 1 FROM pg_sleep(6) WHERE NOT EXISTS (SELECT FROM events);\n"
)
SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'INSERT INTO events%pg_sleep(6)%'"
)


@pytest.fixture
def schema_url(drill: sandbox.Sandbox) -> Iterator[str]:
    """The drill's PostgreSQL with a schema of its own on the search path."""
    base = drill.server("pg").url
    schema = f"kill_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{base}?options=" + quote(f"-csearch_path={schema}")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def sleeping(url: str) -> int:
    """How many attempts of the slow statement the server is running."""
    with psycopg.connect(url) as conn:
        row = conn.execute(SLEEPING).fetchone()
    return int(row[0]) if row else 0


def kill_mid_statement(pg: Project, url: str) -> None:
    """Start `migrate up`, wait until its slow statement runs on the server, SIGKILL the process."""
    child = pg.spawn("up")
    try:
        eventually(lambda: sleeping(url) == 1 or child.poll() is not None, 60, "the slow statement starts")
        assert child.poll() is None, child.communicate()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)


def run_again(pg: Project, url: str) -> None:
    """`migrate up` again at once; afterwards no attempt of the step may still be running."""
    started = time.monotonic()
    result = pg.cli("up", "--lock-wait", "30")
    figure("SIGKILL -> the next run finished (PostgreSQL)", time.monotonic() - started)
    assert result.exit_code == 0, result.output
    print(*(line for line in result.output.splitlines() if "lock taken" in line), sep="\n")  # its wait
    eventually(lambda: sleeping(url) == 0, 30, "no attempt of the step still runs")


def applied(pg: Project, url: str) -> None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None and row[0] == 1  # applied exactly once
    attempts = [r for r in pg.history("pg") if r.version == "0002"]
    assert [r.status for r in attempts] == ["failed", "success"]
    assert (attempts[0].error or "").startswith("interrupted: run ")


def test_a_killed_runs_statement_is_not_applied_twice(drill: sandbox.Sandbox, schema_url: str, tmp_path: Path) -> None:
    pg = Project(tmp_path, {"pg": {"url": schema_url}})
    pg.write({"pg/V0001__events.sql": EVENTS, "pg/V0002__slow_insert.sql": SLOW_INSERT})
    kill_mid_statement(pg, schema_url)
    run_again(pg, schema_url)
    applied(pg, schema_url)


def test_no_second_attempt_starts_while_the_first_still_runs(
    drill: sandbox.Sandbox, schema_url: str, tmp_path: Path
) -> None:
    pg = Project(tmp_path, {"pg": {"url": schema_url}})
    pg.write({"pg/V0001__events.sql": EVENTS, "pg/V0002__slow_insert.sql": RERUNNABLE_SLOW_INSERT})
    kill_mid_statement(pg, schema_url)
    run_again(pg, schema_url)
    applied(pg, schema_url)


#: a step that hangs in the process when told to, then records that it ran (``{apply}``).
HANGS_THEN_APPLIES = """import os, pathlib, time

irreversible = True


def up(ctx):
    marker = os.environ.get("DBPLEX_TEST_HANG")
    if marker:
        pathlib.Path(marker).write_text("started")
        time.sleep(300)
    ctx.execute({apply})
"""
TTL = 3


@pytest.fixture
def redis_project(drill: sandbox.Sandbox, tmp_path: Path) -> Iterator[tuple[Project, Callable[[], int]]]:
    """A Redis source with a key prefix of its own; counts the step's applications."""
    url, prefix = drill.server("redis").url, f"kill_{uuid.uuid4().hex[:10]}:"
    project = Project(tmp_path, {"redis": {"url": url, "options": {"prefix": prefix}}})
    project.write({"redis/V0001__applies.py": HANGS_THEN_APPLIES.format(apply=repr(("INCR", f"{prefix}applied")))})
    raw = redis.Redis.from_url(url)
    yield project, lambda: int(raw.get(f"{prefix}applied") or 0)
    keys = list(raw.scan_iter(match=f"{prefix}*"))
    if keys:
        raw.delete(*keys)
    raw.close()


@pytest.fixture
def mongo_project(mongo_server: sandbox.Server, tmp_path: Path) -> Iterator[tuple[Project, Callable[[], int]]]:
    """A MongoDB source with a database of its own; counts the step's applications."""
    pymongo = pytest.importorskip("pymongo")
    database = f"kill_{uuid.uuid4().hex[:10]}"
    url = mongo_server.url.rsplit("/", 1)[0] + f"/{database}"
    project = Project(tmp_path, {"mongo": {"url": url}})
    apply = {"insert": "applied", "documents": [{"step": 1}]}
    project.write({"mongo/V0001__applies.py": HANGS_THEN_APPLIES.format(apply=repr(apply))})
    client: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    yield project, lambda: int(client[database]["applied"].count_documents({}))
    client.drop_database(database)
    client.close()


@pytest.mark.parametrize("backend", ["redis", "mongo"])
def test_a_killed_holders_lease_expires_after_the_configured_ttl(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    project, applications = request.getfixturevalue(f"{backend}_project")
    project.config.write_text(f"[migration_lock]\nttl = {TTL}\n\n{project.config.read_text()}")
    marker = tmp_path / "started"
    child = project.spawn("up", env={"DBPLEX_TEST_HANG": str(marker)})
    try:
        eventually(lambda: marker.exists() or child.poll() is not None, 60, "the step starts")
        assert child.poll() is None, child.communicate()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    started = time.monotonic()
    result = project.cli("up")  # waits for the dead holder's lease: [migration_lock] wait (60 s) > ttl
    figure(f"SIGKILL -> the next run finished ({backend}, ttl {TTL} s)", time.monotonic() - started)
    assert result.exit_code == 0, result.output
    assert applications() == 1
    attempts = project.history(backend)
    assert [r.status for r in attempts] == ["failed", "success"]
    assert (attempts[0].error or "").startswith("interrupted: run ")
