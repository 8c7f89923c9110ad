"""What a migration is once its file has been read, and a planned step of a run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dbplex.migrate.naming import Ref, VersionKey, version_key

if TYPE_CHECKING:
    from dbplex.migrate.context import MigrationContext

Kind = Literal["versioned", "repeatable"]
Direction = Literal["up", "down"]
#: a SQL text (for backends that run SQL) or a Python function taking the migration context.
Body = str | Callable[["MigrationContext"], object]

#: options every backend understands; backends add their own (``Migrator.file_options``).
COMMON_OPTIONS = frozenset({"depends_on", "irreversible"})


@dataclass(frozen=True)
class Migration:
    """One migration file of one source, read and checked."""

    source: str
    path: Path
    kind: Kind
    #: the version as written in the file name (without the ``V``); None for repeatables.
    version: str | None
    description: str
    format: str
    #: SHA-256 (hex) of the file's text with LF line endings and no BOM.
    checksum: str
    up: Body
    down: Body | None = None
    irreversible: bool = False
    depends_on: tuple[Ref, ...] = ()
    #: backend options given by the file (e.g. ``transaction``, ``lock_timeout``).
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        if self.version is None:
            return f"R__{self.description}"
        return "V" + ".".join(str(p) for p in self.version_key)

    @property
    def version_key(self) -> VersionKey:
        return version_key(self.version) if self.version is not None else ()

    @property
    def ref(self) -> Ref:
        return Ref(self.source, self.id)

    @property
    def name(self) -> str:
        return self.path.name

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class Step:
    """One migration to run in one direction, and why the planner chose it."""

    migration: Migration
    direction: Direction
    #: "new", "retry" (after a failed or interrupted attempt), "changed" (repeatable), "revert".
    reason: str

    @property
    def label(self) -> str:
        return f"{self.migration.source}:{self.migration.name}"

    @property
    def body(self) -> Body | None:
        """What this step runs: the migration's ``up`` or its ``down``."""
        return self.migration.up if self.direction == "up" else self.migration.down

    @property
    def done(self) -> Literal["success", "rolled_back"]:
        """The history status of this step once it has run."""
        return "success" if self.direction == "up" else "rolled_back"

    def call(self, ctx: MigrationContext) -> None:
        """Run a Python step: its ``up`` or ``down`` function with ``ctx`` (backends that run no
        SQL read Python migrations only)."""
        body = self.body
        assert callable(body), f"{self.label}: {self.direction} is not a Python function"
        body(ctx)
