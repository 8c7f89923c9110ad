"""What can go wrong with partitioning, as errors a user can act on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbplex.errors import DbplexError

if TYPE_CHECKING:
    from dbplex.partition.reports import RunReport


class PartitionError(DbplexError):
    """Base of every partitioning error (exit code 2: a spec, configuration or plan problem)."""


class PlanError(PartitionError):
    """A spec cannot be planned: the backend cannot do what it says, or the target is not ready."""

    def __init__(self, spec: str, problems: Sequence[str]) -> None:
        self.spec = spec
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = f"partitions {spec!r}: {self.problems[0]}"
        else:
            text = f"partitions {spec!r}: {len(self.problems)} problems:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(text)


class KeyOutOfRange(PartitionError):
    """A row's partition key lies beyond the premade horizon (or before every partition): refused."""

    exit_code = 1


class MaintenanceBusy(PartitionError):
    """Another run held the spec's maintenance lock for longer than the bounded wait."""

    exit_code = 1


class MaintenanceLockLost(PartitionError):
    """The maintenance lock (a lease) was lost while this run held it; the run stopped."""

    exit_code = 1


class ActionFailed(PartitionError):
    """The database rejected one action of a run; the run stopped there."""

    exit_code = 1

    def __init__(self, message: str, report: RunReport | None = None) -> None:
        #: what the run did up to and including the failed action.
        self.report = report
        super().__init__(message)
