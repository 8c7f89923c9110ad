"""Start server processes detached from the caller, tell whether they still run, and stop them.

Each server leads its own session (``start_new_session``): it outlives ``dbplex sandbox up``, a
Ctrl-C in the shell does not reach it, and a last-resort SIGKILL to its process group also reaches
helpers it forked (PostgreSQL's children leave the group, but exit by themselves once the
postmaster is gone).
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, BinaryIO

from dbplex.sandbox.errors import SandboxError

#: children of this process, kept so that they can be reaped: a dead, unreaped child still has a pid.
_children: dict[int, subprocess.Popen[bytes]] = {}
_HAVE_PROC = Path("/proc/self/stat").exists()


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether nothing listens on loopback ``port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _child(out: BinaryIO, cwd: Path, user: pwd.struct_passwd | None) -> dict[str, Any]:
    """What a preparation step and a server both get: no stdin, output appended to the log, and
    ``user``'s uid, gid and no supplementary groups (dropping root's)."""
    identity = {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return {"stdin": subprocess.DEVNULL, "stdout": out, "stderr": subprocess.STDOUT, "cwd": cwd, **identity}


def open_log(log: Path) -> BinaryIO:
    """``log`` opened for appending, readable by its owner only: server logs may quote what
    clients sent (and the sandbox may run as root, its servers as another user)."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)  # a log left by an earlier run keeps its mode otherwise
    return os.fdopen(fd, "ab")


def run(argv: list[str], *, log: Path, cwd: Path, user: pwd.struct_passwd | None, timeout: float) -> int:
    """Run a preparation step (such as ``initdb``) to completion, its output appended to ``log``."""
    with open_log(log) as out:
        try:
            done = subprocess.run(argv, timeout=timeout, **_child(out, cwd, user))
        except subprocess.TimeoutExpired:
            raise SandboxError(f"{Path(argv[0]).name} did not finish within {timeout:g}s; see {log}") from None
        except OSError as exc:
            raise SandboxError(f"cannot run {argv[0]}: {exc.strerror}") from None
    return done.returncode


def spawn(argv: list[str], *, log: Path, cwd: Path, user: pwd.struct_passwd | None = None) -> tuple[int, int | None]:
    """Start a long-running server in a new session; return its pid and start time."""
    with open_log(log) as out:
        try:
            child: subprocess.Popen[bytes] = subprocess.Popen(argv, start_new_session=True, **_child(out, cwd, user))
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]}: {exc.strerror}") from None
    _children[child.pid] = child
    return child.pid, start_time(child.pid)


def _stat(pid: int) -> tuple[str, int] | None:
    """State letter and start time (clock ticks after boot) from ``/proc/PID/stat``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name in parentheses may contain spaces: split after its closing parenthesis
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def start_time(pid: int) -> int | None:
    """When ``pid`` started, or None where there is no ``/proc`` to ask."""
    stat = _stat(pid)
    return None if stat is None else stat[1]


def alive(pid: int, started: int | None) -> bool:
    """Whether ``pid`` runs and is the process that started at ``started`` (not a reuse of its pid)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]
        return False
    if not _HAVE_PROC:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = _stat(pid)
    # "Z"ombie and "X" (dead) hold a pid but no longer serve anything
    return stat is not None and stat[0] not in ("Z", "X") and (started is None or stat[1] == started)


def _gone(pid: int, started: int | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid, started):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop(pid: int, started: int | None, sig: signal.Signals, timeout: float) -> None:
    """Ask the server to stop with ``sig``; after ``timeout`` seconds SIGKILL its process group."""
    if not alive(pid, started):
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if _gone(pid, started, timeout):
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if not _gone(pid, started, 5.0):
        raise SandboxError(f"process {pid} survived SIGKILL")
