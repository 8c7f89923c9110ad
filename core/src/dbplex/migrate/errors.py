"""What can go wrong with migrations, as errors a user can act on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbplex.errors import DbplexError

if TYPE_CHECKING:
    from dbplex.migrate.reports import RunReport


class MigrationError(DbplexError):
    """Base of every migration error."""


class ProblemsError(MigrationError):
    """One or more problems found in the migration files or the history; each names its file."""

    #: what a short message calls the problems.
    heading = "migration problems"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = f"{self.heading}: {self.problems[0]}"
        else:
            text = f"{len(self.problems)} {self.heading}:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class PlanError(ProblemsError):
    """The files cannot be planned: bad names, duplicate versions, missing dependencies, cycles, two heads."""

    heading = "cannot plan migrations"


class ValidationError(ProblemsError):
    """The files no longer match what the history says was applied (checksum drift, missing files)."""

    heading = "validation failed"


class LockTimeout(MigrationError):
    """Another run held a source's migration lock for longer than the bounded wait."""

    exit_code = 1


class LockLost(MigrationError):
    """A lease expired or a lock session died while this run held it; the run stopped."""

    exit_code = 1


class MigrationFailed(MigrationError):
    """A step raised; its history row says ``failed`` with the error."""

    exit_code = 1

    def __init__(self, ref: str, error: str, report: RunReport | None = None) -> None:
        self.ref = ref
        self.error = error
        #: what the run did up to and including the failed step.
        self.report = report
        super().__init__(f"{ref} failed: {error}")


class DryRunUnsupported(MigrationError):
    """A Python migration used its native connection (or another source) during a dry run."""
