"""``up``, ``down`` and ``status``: the life of one sandbox directory.

A sandbox owns its directory: ``up`` starts only in a new or empty one (or one that holds a
sandbox whose processes have all died), and ``down`` removes it. A lock file serialises
commands on the same directory.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shlex
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from dbplex.sandbox import config_file, mongo, postgres, process, records, redis_server
from dbplex.sandbox.engine import Engine
from dbplex.sandbox.errors import SandboxError
from dbplex.sandbox.records import Sandbox, Server

DEFAULT_DIR = ".dbplex-sandbox"
ENGINES: dict[str, Engine] = {"pg": postgres.ENGINE, "redis": redis_server.ENGINE, "mongo": mongo.ENGINE}
READY_TIMEOUT = 30.0
#: the source name of the sandbox's Redis Cluster.
CLUSTER_SOURCE = "redis_cluster"
STOP_TIMEOUT = 10.0
_LOCK_FILE = ".lock"


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the directory's lock; a ``down`` that held it before us may have deleted it, so recheck."""
    path = root / _LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            raise SandboxError(f"{root} was removed while we waited for it (a concurrent `down`?)") from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def _down_command(root: Path) -> str:
    return f"`dbplex sandbox down --dir {shlex.quote(str(root))}`"


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()}" if lines else ""


def _wait(server: Server, check: Callable[[Server], bool], what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not server.is_running():
            raise SandboxError(
                f"{server.name} ({server.kind}) exited while starting; see {server.log}{_last_line(server.log)}"
            )
        if check(server):
            return
        if time.monotonic() > deadline:
            raise SandboxError(f"{server.name} ({server.kind}) was not {what} after {timeout:g}s; see {server.log}")
        time.sleep(0.05)


def _wait_ready(server: Server) -> None:
    _wait(server, ENGINES[server.engine].ready, "ready")
    if server.role == "cluster-node":
        _wait(server, redis_server.cluster_ok, "serving all cluster slots")


def _stop_all(sandbox: Sandbox) -> None:
    for server in reversed(sandbox.servers):
        process.stop(server.pid, server.started, ENGINES[server.engine].stop_signal, STOP_TIMEOUT)


def _clear(root: Path) -> None:
    """Remove everything in ``root`` but the lock we hold."""
    for entry in root.iterdir():
        if entry.name == _LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _claim(root: Path) -> None:
    """Make ``root`` ready for a new sandbox, or refuse if it is in use or not ours."""
    found = records.load(root)
    if found is None:
        if any(entry.name != _LOCK_FILE for entry in root.iterdir()):
            (root / _LOCK_FILE).unlink()  # leave a directory that is not ours as we found it
            raise SandboxError(f"{root} is not empty and holds no sandbox; choose a new or empty directory with --dir")
        return
    running = [f"{s.name} (pid {s.pid})" for s in found.servers if s.is_running()]
    if running:
        raise SandboxError(
            f"a sandbox is already running in {root}: {', '.join(running)}; stop it with {_down_command(root)}"
        )
    _clear(root)  # every recorded process is dead: the state is stale, left by a crash or a failed `up`


def _check_topology(names: list[str], pg_replicas: int, redis_cluster: int) -> None:
    unknown = sorted(set(names) - set(ENGINES))
    if unknown:
        raise SandboxError(f"unknown sandbox server {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    if pg_replicas < 0:
        raise SandboxError(f"--pg-replicas must be 0 or more, got {pg_replicas}")
    if pg_replicas and "pg" not in names:
        raise SandboxError("--pg-replicas needs the pg server: add -s pg")
    if redis_cluster and not 3 <= redis_cluster <= 64:
        raise SandboxError(f"a Redis Cluster needs 3 to 64 masters, got --redis-cluster {redis_cluster}")


def up(
    directory: str | os.PathLike[str],
    *,
    servers: Iterable[str] = tuple(ENGINES),
    pg_replicas: int = 0,
    redis_cluster: int = 0,
) -> Sandbox:
    """Start the named servers in ``directory`` and write its ``dbplex.toml``.

    ``pg_replicas`` streaming replicas of ``pg`` (``pg-replica1``, ...) are made with
    ``pg_basebackup`` once it runs; ``redis_cluster`` masters (``redis-cluster1``, ...) form the
    Redis Cluster ``redis_cluster``. If anything fails, the servers started so far are stopped;
    their logs stay for reading (and the next ``up`` or ``down`` removes them).
    """
    names = list(dict.fromkeys(servers))
    _check_topology(names, pg_replicas, redis_cluster)
    root = Path(directory).absolute()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxError(f"cannot create sandbox directory {root}: {exc.strerror}") from None
    with _locked(root):
        _claim(root)
        os.chmod(root, 0o700)  # logs and state are the owner's (PostgreSQL's user may pass through, see privileges)
        sandbox = Sandbox(directory=root)
        records.save(sandbox)

        def home(name: str) -> Path:
            folder = root / name
            folder.mkdir(mode=0o700)
            return folder

        def record(server: Server) -> None:
            nonlocal sandbox
            sandbox = msgspec.structs.replace(sandbox, servers=[*sandbox.servers, server])
            records.save(sandbox)

        try:
            for name in names:
                record(ENGINES[name].launch(name, home(name), process.free_port()))
            for server in sandbox.servers:
                _wait_ready(server)
            if pg_replicas:
                primary = sandbox.server("pg")
                for i in range(1, pg_replicas + 1):
                    name = f"pg-replica{i}"
                    record(postgres.launch_replica(name, home(name), process.free_port(), primary))
            for i in range(1, redis_cluster + 1):
                name = f"redis-cluster{i}"
                record(redis_server.launch_cluster_node(name, home(name), redis_server.cluster_port(), CLUSTER_SOURCE))
            for server in sandbox.servers:
                if server.role != "server":
                    _wait(server, ENGINES[server.engine].ready, "ready")
            if redis_cluster:
                nodes = sandbox.clusters()[CLUSTER_SOURCE]
                redis_server.create_cluster(nodes, root / f"{CLUSTER_SOURCE}.log")
                for server in nodes:
                    _wait_ready(server)
            config_file.write(sandbox)
        except BaseException:
            _stop_all(sandbox)
            raise
    return sandbox


def down(directory: str | os.PathLike[str]) -> None:
    """Stop the sandbox in ``directory`` and remove the directory; nothing happens if there is none."""
    root = Path(directory).absolute()
    if not root.is_dir():
        return
    with _locked(root):
        found = records.load(root)
        if found is None:
            (root / _LOCK_FILE).unlink()
            return
        _stop_all(found)
        shutil.rmtree(root)


def _existing(root: Path) -> Sandbox:
    found = records.load(root)
    if found is None:
        raise SandboxError(f"no sandbox in {root}")
    return found


def stop_server(directory: str | os.PathLike[str], name: str) -> Server:
    """Stop one server of the sandbox (for fault drills); its data stays, for :func:`start_server`."""
    root = Path(directory).absolute()
    with _locked(root):
        server = _existing(root).server(name)
        process.stop(server.pid, server.started, ENGINES[server.engine].stop_signal, STOP_TIMEOUT)
    return server


def start_server(directory: str | os.PathLike[str], name: str) -> Server:
    """Start a stopped server again on its data and port; return once it answers (a cluster
    node once its cluster serves every slot again)."""
    root = Path(directory).absolute()
    with _locked(root):
        sandbox = _existing(root)
        server = sandbox.server(name)
        if server.is_running():
            raise SandboxError(f"{name} is already running (pid {server.pid})")
        if not server.argv:
            raise SandboxError(f"{name} was recorded by an older dbplex without its command; recreate the sandbox")
        user = pwd.getpwnam(server.user) if server.user else None
        pid, started = process.spawn(server.argv, log=server.log, cwd=server.home, user=user)
        server = msgspec.structs.replace(server, pid=pid, started=started)
        servers = [server if s.name == name else s for s in sandbox.servers]
        records.save(msgspec.structs.replace(sandbox, servers=servers))
        _wait_ready(server)
    return server


def status(directory: str | os.PathLike[str]) -> Sandbox | None:
    """The sandbox recorded in ``directory`` (running or not), or None if there is none."""
    return records.load(Path(directory).absolute())
