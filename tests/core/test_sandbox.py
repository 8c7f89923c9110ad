"""The sandbox starts real servers on loopback, refuses to start twice, and recovers from crashes."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbplex import config, sandbox
from dbplex.cli.sandbox import sandbox as cli
from dbplex.sandbox import process

psycopg = pytest.importorskip("psycopg")
redis = pytest.importorskip("redis")
pymongo = pytest.importorskip("pymongo")


@pytest.fixture
def directory(sandbox_dir: Path) -> Path:
    """A sandbox directory that is torn down after the test, whatever the test left running."""
    return sandbox_dir


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _socket_inodes(pgid: int) -> set[str]:
    inodes = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        except OSError:  # the process ended while we looked
            continue
    return inodes


def _address(hex_address: str) -> str:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc prints the address as 32-bit words in host (little-endian) order
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return f"{ipaddress.ip_address(packed)}:{int(port, 16)}"


def listening(pgid: int) -> set[str]:
    """Every TCP address the processes of a server's process group listen on, as the kernel sees it."""
    inodes = _socket_inodes(pgid)
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add(_address(fields[1]))
    return found


def check_servers(urls: dict[str, str]) -> None:
    """Real round trips through each driver, and each server's own view of what it binds."""
    with psycopg.connect(urls["pg"], autocommit=True) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
    client = redis.Redis.from_url(urls["redis"])
    try:
        assert client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
    finally:
        client.close()
    mongo = pymongo.MongoClient(urls["mongo"], serverSelectionTimeoutMS=5000)
    try:
        docs = mongo.get_default_database()["things"]
        docs.insert_one({"_id": 1, "name": "Ada"})
        assert docs.find_one({"_id": 1}) == {"_id": 1, "name": "Ada"}
        assert mongo.admin.command("buildInfo")["version"]
    finally:
        mongo.close()


def test_up_status_env_down_round_trip(directory: Path) -> None:
    # `up` in its own process: the servers must outlive it
    up = [sys.executable, "-c", "from dbplex.cli.sandbox import sandbox; sandbox()", "up", "--dir", str(directory)]
    done = subprocess.run(up, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "dbplex sandbox env --dir" in done.stdout

    code, out = invoke("status", "--json", "--dir", str(directory))
    assert code == 0, out
    state = json.loads(out)
    assert state["running"] is True
    servers = {s["name"]: s for s in state["servers"]}
    assert set(servers) == {"pg", "redis", "mongo"}
    assert servers["pg"]["kind"] == "postgres"
    assert servers["mongo"]["kind"] in ("mongod", "nx-27017")
    for server in state["servers"]:
        assert server["running"] is True
        assert Path(server["log"]).is_file()
        assert listening(server["pid"]) == {f"127.0.0.1:{server['port']}"}, server["name"]

    code, out = invoke("env", "--dir", str(directory))
    assert code == 0, out
    exported = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert exported["DBPLEX_TEST_MONGO_KIND"] == servers["mongo"]["kind"]
    loaded = config.load(exported["DBPLEX_CONFIG"])
    urls = {name: source.url for name, source in loaded.sources.items()}
    assert urls == {name: exported[f"DBPLEX_TEST_{name.upper()}_URL"] for name in ("pg", "redis", "mongo")}
    check_servers(urls)

    # a client still connected must not hold up `down` (PostgreSQL's "smart" shutdown would)
    with psycopg.connect(urls["pg"], autocommit=True):
        started = time.monotonic()
        code, out = invoke("down", "--dir", str(directory))
        assert code == 0, out
        assert time.monotonic() - started < 5
    assert not directory.exists()
    for server in state["servers"]:
        assert not process.alive(server["pid"], server["started"]), server["name"]

    assert invoke("status", "--dir", str(directory)) == (1, f"no sandbox in {directory}\n")
    assert invoke("down", "--dir", str(directory))[0] == 0  # idempotent


def test_second_up_on_the_same_directory_is_refused(directory: Path) -> None:
    first = sandbox.up(directory, servers=("redis",))
    code, out = invoke("up", "--dir", str(directory))
    assert code == 2
    assert str(directory) in out
    assert f"dbplex sandbox down --dir {directory}" in out
    assert "Traceback" not in out
    with pytest.raises(sandbox.SandboxError, match="already running"):
        sandbox.up(directory)
    assert sandbox.status(directory) == first
    assert first.is_running()


def test_stale_state_after_a_crash_is_cleaned_and_up_starts_again(directory: Path) -> None:
    crashed = sandbox.up(directory)
    for server in crashed.servers:
        os.kill(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(server.is_running() for server in crashed.servers):
        assert time.monotonic() < deadline, "killed servers still run"
        time.sleep(0.05)
    assert invoke("status", "--dir", str(directory))[0] == 1
    assert invoke("env", "--dir", str(directory))[0] == 2

    again = sandbox.up(directory)
    assert again.is_running()
    assert {s.pid for s in again.servers}.isdisjoint(s.pid for s in crashed.servers)
    check_servers(again.urls)


def test_a_failed_up_stops_what_it_started(directory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a "mongod" that dies at once, found on PATH before anything else
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "mongod").write_text("#!/bin/sh\necho 'cannot start: no storage engine' >&2\nexit 3\n")
    (fake / "mongod").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(sandbox.SandboxError) as failed:
        sandbox.up(directory, servers=("redis", "mongo"))
    message = str(failed.value)
    assert "mongo (mongod) exited while starting" in message
    assert str(directory / "mongo" / "mongod.log") in message
    assert "no storage engine" in message
    left = sandbox.status(directory)
    assert left is not None
    assert [s.name for s in left.servers] == ["redis", "mongo"]
    assert not any(s.is_running() for s in left.servers)

    monkeypatch.undo()
    assert sandbox.up(directory, servers=("redis",)).is_running()


def test_a_directory_that_is_not_a_sandbox_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(sandbox.SandboxError, match="not empty and holds no sandbox"):
        sandbox.up(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    sandbox.down(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_env_without_a_sandbox_says_how_to_start_one(tmp_path: Path) -> None:
    code, out = invoke("env", "--dir", str(tmp_path / "none"))
    assert code == 2
    assert "dbplex sandbox up --dir" in out
    assert sandbox.status(tmp_path / "none") is None


def test_unknown_server_is_refused(tmp_path: Path) -> None:
    with pytest.raises(sandbox.SandboxError, match="unknown sandbox server mysql"):
        sandbox.up(tmp_path, servers=("pg", "mysql"))


def test_logs_are_private_and_postgres_logs_no_statement(directory: Path) -> None:
    """A failed ``CREATE ROLE ... PASSWORD`` used to land, password and all, in a log anyone could read."""
    started = sandbox.up(directory)
    password = "Pw-never-logged-5e1f"
    with psycopg.connect(started.urls["pg"], autocommit=True) as conn:
        conn.execute(f"CREATE ROLE dbplex_logged LOGIN PASSWORD '{password}'")
        with pytest.raises(psycopg.errors.DuplicateObject):
            conn.execute(f"CREATE ROLE dbplex_logged LOGIN PASSWORD '{password}'")
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute(f"CREATE ROLE dbplex_other LOGIN PASSWORD '{password}' NOSUCHOPTION")
    for server in started.servers:
        assert server.log.is_file()
        assert stat.S_IMODE(server.log.stat().st_mode) == 0o600, server.log
        assert stat.S_IMODE(server.home.stat().st_mode) & 0o077 == 0, server.home
    # others may pass through the sandbox folder (to reach PostgreSQL's home when run as root), never list it
    assert stat.S_IMODE(directory.stat().st_mode) & 0o076 == 0
    pg_log = (directory / "pg" / "postgres.log").read_text(errors="replace")
    assert "already exists" not in pg_log and password not in pg_log
