"""``up``, ``down`` and ``status``: the life of one sandbox directory.

A sandbox owns its directory: ``up`` starts only in a new or empty one (or one that holds a
sandbox whose processes have all died), and ``down`` removes it. A lock file serialises
commands on the same directory.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import time
from collections.abc import Iterable, Iterator
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


def _wait_ready(server: Server, engine: Engine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not server.is_running():
            raise SandboxError(
                f"{server.name} ({server.kind}) exited while starting; see {server.log}{_last_line(server.log)}"
            )
        if engine.ready(server):
            return
        if time.monotonic() > deadline:
            raise SandboxError(f"{server.name} ({server.kind}) was not ready after {timeout:g}s; see {server.log}")
        time.sleep(0.05)


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


def up(directory: str | os.PathLike[str], *, servers: Iterable[str] = tuple(ENGINES)) -> Sandbox:
    """Start the named servers in ``directory`` and write its ``dbplex.toml``.

    If anything fails, the servers started so far are stopped; their logs stay for reading
    (and the next ``up`` or ``down`` removes them).
    """
    names = list(dict.fromkeys(servers))
    unknown = sorted(set(names) - set(ENGINES))
    if unknown:
        raise SandboxError(f"unknown sandbox server {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    root = Path(directory).absolute()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxError(f"cannot create sandbox directory {root}: {exc.strerror}") from None
    with _locked(root):
        _claim(root)
        sandbox = Sandbox(directory=root)
        records.save(sandbox)
        try:
            for name in names:
                home = root / name
                home.mkdir()
                server = ENGINES[name].launch(name, home, process.free_port())
                sandbox = msgspec.structs.replace(sandbox, servers=[*sandbox.servers, server])
                records.save(sandbox)
            for server in sandbox.servers:
                _wait_ready(server, ENGINES[server.engine], READY_TIMEOUT)
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


def status(directory: str | os.PathLike[str]) -> Sandbox | None:
    """The sandbox recorded in ``directory`` (running or not), or None if there is none."""
    return records.load(Path(directory).absolute())
