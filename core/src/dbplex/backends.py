"""What a backend plugin declares about itself, and the per-source view handed to hooks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dbplex import secrets
from dbplex.config import SourceConfig
from dbplex.ops import Op

#: Capability flags a backend may declare. The conformance suite skips what is not declared.
CAPABILITIES = frozenset(
    {
        "transactions",  # Pool.transaction() commits and rolls back uniform ops
        "ttl",  # records or keys can expire
        "sql",  # SQLAlchemy Core statements
        "fulltext",  # full-text search
        "aggregate",  # server-side aggregation pipelines
        "files",  # large-file storage (GridFS)
        "change_streams",  # change notifications
        "pubsub",  # publish / subscribe
        "pipelines",  # several commands in one round trip
    }
)


@dataclass(frozen=True)
class Backend:
    """A backend, as its plugin registers it from ``dbplex_register_backends``."""

    #: short name used in config and CLI output (and the entry point's name).
    name: str
    #: URL schemes this backend answers for, e.g. ``("postgresql", "postgres")``.
    schemes: tuple[str, ...]
    version: str = "0"
    capabilities: frozenset[str] = frozenset()
    #: the backend's own op types, so that ``dbplex op`` can decode them from JSON.
    ops: tuple[type[Op], ...] = ()
    #: a msgspec Struct type that validates ``[sources.X.options]``; None accepts none.
    options: type[Any] | None = None
    description: str = ""
    #: the driver's loggers (``("psycopg",)``): dbplex keeps them off stderr until the
    #: application configures logging, as it does its own ``dbplex.*`` loggers.
    loggers: tuple[str, ...] = ()
    #: URL schemes this backend does not handle, each with the distribution that does: the
    #: package named when a source uses such a scheme and no installed backend claims it
    #: (``{"mysqlx": "dbplex-mysqlx"}`` from a MySQL plugin whose X-protocol sibling ships apart).
    install_hints: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: the distribution that registered it; filled in by the loader.
    package: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.capabilities) - CAPABILITIES
        if unknown:
            raise ValueError(f"backend {self.name!r} declares unknown capabilities {sorted(unknown)}")


#: what a source's pool is for: the primary, a read replica, or the admin pool of capability
#: sessions (locks, DDL), whose connections carry no operation timeout.
Role = Literal["primary", "replica", "admin"]


@dataclass(frozen=True)
class Source:
    """A configured source bound to its backend: the ``source`` argument of every hook."""

    name: str
    backend: str
    config: SourceConfig
    #: ``config.options`` validated into the backend's options type (a dict when it has none).
    options: Any = None
    #: which of the source's pools this is for (``name`` is then ``SOURCE/replicaN`` or ``SOURCE/admin``).
    role: Role = "primary"

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def scheme(self) -> str:
        return self.config.scheme

    @property
    def redacted_url(self) -> str:
        return secrets.redact_url(self.config.url)

    def __repr__(self) -> str:
        return f"Source(name={self.name!r}, backend={self.backend!r}, url={self.redacted_url!r})"
