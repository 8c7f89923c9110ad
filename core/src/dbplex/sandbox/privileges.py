"""Run PostgreSQL as an unprivileged user when we are root, because postgres refuses to run as root."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

from dbplex.sandbox.errors import SandboxError

SERVER_USER = "postgres"


def server_user() -> pwd.struct_passwd | None:
    """The user to run postgres as: None when we are not root, else ``postgres`` (created if missing)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    argv = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER]
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        raise SandboxError(
            f"running as root: postgres needs an unprivileged user, and `useradd {SERVER_USER}` failed ({detail}); "
            f"create a {SERVER_USER!r} user or run as another user"
        ) from None
    return pwd.getpwnam(SERVER_USER)


def hand_over(path: Path, user: pwd.struct_passwd) -> None:
    """Give ``path`` to ``user`` so the server can create its data, socket and lock files there."""
    os.chown(path, user.pw_uid, user.pw_gid)


def _can_search(st: os.stat_result, user: pwd.struct_passwd, groups: set[int]) -> bool:
    if st.st_uid == user.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def make_reachable(path: Path, user: pwd.struct_passwd) -> None:
    """Let ``user`` pass through every folder above ``path`` (adds search, never read, permission).

    Needed when the sandbox or the PostgreSQL binaries live below a private folder such as
    ``/root`` or pytest's ``/tmp/pytest-of-root``.
    """
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for folder in path.absolute().parents:
        st = folder.stat()
        if not _can_search(st, user, groups):
            os.chmod(folder, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
