"""What a sandbox is made of, and the JSON state file that lets later commands find it again.

The state file is rewritten after every server is spawned, so a crash of ``up`` half-way still
leaves a record of every process that has to be stopped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec

from dbplex.sandbox import process
from dbplex.sandbox.errors import SandboxError

STATE_FILE = "sandbox.json"
CONFIG_FILE = "dbplex.toml"


class Server(msgspec.Struct, kw_only=True, frozen=True):
    """One running server process of a sandbox."""

    #: source name in ``dbplex.toml``; also the name of its folder in the sandbox.
    name: str
    #: which database it serves: ``pg``, ``redis`` or ``mongo``.
    engine: str
    #: which implementation: ``postgres``, ``redis-server``, ``mongod`` or ``nx-27017`` (a
    #: stand-in that lacks some MongoDB features, so tests skip those).
    kind: str
    port: int
    pid: int
    #: the process start time, to tell our server from a later process that reuses its pid.
    started: int | None
    url: str
    binary: Path
    log: Path
    #: the folder that holds its data, socket and log.
    home: Path
    #: the command that runs it, and the system user it runs as (None: the caller), so that
    #: ``sandbox start NAME`` can run it again on the same data.
    argv: list[str] = []
    user: str | None = None
    #: ``server``, or ``replica`` (a PostgreSQL streaming replica) or ``cluster-node`` (a Redis
    #: Cluster master); the last two belong to the source named by ``member_of``.
    role: str = "server"
    member_of: str | None = None

    def is_running(self) -> bool:
        """Whether the recorded process is still alive (and still the one we started)."""
        return process.alive(self.pid, self.started)


class Sandbox(msgspec.Struct, kw_only=True, frozen=True):
    """The servers started in one directory."""

    directory: Path
    servers: list[Server] = []

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG_FILE

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def urls(self) -> dict[str, str]:
        """Each server's URL by name, and each Redis Cluster's seed-node URL by its source name."""
        urls = {server.name: server.url for server in self.servers}
        for cluster, nodes in self.clusters().items():
            urls[cluster] = "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in nodes)
        return urls

    def replicas_of(self, name: str) -> list[Server]:
        return [s for s in self.servers if s.role == "replica" and s.member_of == name]

    def clusters(self) -> dict[str, list[Server]]:
        """Redis Cluster nodes by the source name of their cluster."""
        found: dict[str, list[Server]] = {}
        for server in self.servers:
            if server.role == "cluster-node" and server.member_of:
                found.setdefault(server.member_of, []).append(server)
        return found

    def server(self, name: str) -> Server:
        for server in self.servers:
            if server.name == name:
                return server
        known = ", ".join(s.name for s in self.servers) or "none"
        raise SandboxError(f"no sandbox server named {name!r} in {self.directory} (servers: {known})")

    def is_running(self) -> bool:
        """Whether every server is alive."""
        return bool(self.servers) and all(server.is_running() for server in self.servers)

    def environ(self) -> dict[str, str]:
        """Variables that point dbplex and its test suite at these servers."""
        env = {"DBPLEX_CONFIG": str(self.config_path)}
        for server in self.servers:
            prefix = _env_prefix(server.name)
            env[f"{prefix}_URL"] = server.url
            env[f"{prefix}_KIND"] = server.kind
        for cluster in self.clusters():
            env[f"{_env_prefix(cluster)}_URL"] = self.urls[cluster]
        return env


def _env_prefix(name: str) -> str:
    return "DBPLEX_TEST_" + re.sub(r"\W", "_", name).upper()


def _encode_path(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _decode_path(type_: type, obj: Any) -> Any:
    if type_ is Path and isinstance(obj, str):
        return Path(obj)
    raise NotImplementedError(f"cannot decode {type_.__name__}")


encoder = msgspec.json.Encoder(enc_hook=_encode_path)
_decoder = msgspec.json.Decoder(Sandbox, dec_hook=_decode_path)


def save(sandbox: Sandbox) -> None:
    """Write the state file atomically, so a reader never sees half of it."""
    tmp = sandbox.state_path.with_suffix(".tmp")
    tmp.write_bytes(encoder.encode(sandbox))
    os.replace(tmp, sandbox.state_path)


def load(directory: Path) -> Sandbox | None:
    """The sandbox recorded in ``directory``, or None if there is none."""
    path = directory / STATE_FILE
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        sandbox = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise SandboxError(
            f"{path}: unreadable sandbox state ({exc}); stop its servers by hand, then remove {directory}"
        ) from None
    # the directory may have been reached by another path (or moved); trust where we found it
    return msgspec.structs.replace(sandbox, directory=directory)
