"""What the server behind a client is, and whether it can do transactions and change streams.

Both need a replica set or a sharded cluster. A standalone server (or a wire-protocol stand-in
such as nx-27017) answers them with confusing errors or half-working emulations, so dbplex
asks ``hello`` first and refuses with :class:`~dbplex.errors.UnsupportedError` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient

from dbplex.errors import UnsupportedError

STANDALONE, REPLICA_SET, SHARDED = "standalone", "replica_set", "sharded"


@dataclass(frozen=True)
class ServerInfo:
    """The answers of ``hello`` and ``buildInfo`` that dbplex uses."""

    version: str
    #: ``mongod``/``mongos``, or the process name a compatible server reports (e.g. ``nx_27017``).
    product: str
    topology: str
    replica_set: str | None
    address: str

    @property
    def label(self) -> str:
        return f"{self.product} {self.version} at {self.address}"

    @property
    def replicated(self) -> bool:
        return self.topology != STANDALONE


def server_info(hello: dict[str, Any], build_info: dict[str, Any], address: str) -> ServerInfo:
    """Read a server description out of its ``hello`` and ``buildInfo`` replies."""
    if hello.get("msg") == "isdbgrid":
        topology, product = SHARDED, "mongos"
    elif hello.get("setName"):
        topology, product = REPLICA_SET, "mongod"
    else:
        topology, product = STANDALONE, "mongod"
    version = build_info.get("version") or f"wire version {hello.get('maxWireVersion', '?')}"
    return ServerInfo(
        version=str(version),
        product=str(build_info.get("process") or product),
        topology=topology,
        replica_set=hello.get("setName"),
        address=address,
    )


class ServerProbe:
    """Asks a client's server what it is, once, and answers capability questions from that."""

    def __init__(self, client: MongoClient[dict[str, Any]], source: str) -> None:
        self._client = client
        self._source = source
        self._info: ServerInfo | None = None

    def refresh(self) -> ServerInfo:
        """Ask the server again (two round trips); raises the driver's error when unreachable."""
        admin = self._client.admin
        hello = admin.command("hello")
        build_info = admin.command("buildInfo")
        self._info = server_info(hello, build_info, address_of(self._client))
        return self._info

    def info(self) -> ServerInfo:
        return self._info or self.refresh()

    def require_replication(self, feature: str) -> None:
        """Raise :class:`UnsupportedError` naming ``feature`` unless the server replicates."""
        require_replication(self.info(), self._source, feature)


def require_replication(info: ServerInfo, source: str, feature: str) -> None:
    """:class:`UnsupportedError` naming ``feature`` unless the server ``info`` describes replicates."""
    if not info.replicated:
        raise UnsupportedError(
            f"source {source!r}: {feature} need a replica set or sharded cluster; {info.label} is a standalone server"
        )


def address_of(client: Any) -> str:
    """The client's servers as ``host:port, ...`` (``?`` before it knows any)."""
    return ", ".join(sorted(f"{host}:{port}" for host, port in client.nodes)) or "?"
