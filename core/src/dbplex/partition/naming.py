"""Partitions read back from their labels and names, for backends that find partitions by name.

PostgreSQL reads bounds from its catalog; MongoDB collections and Redis keys carry only a name,
so ``inspect`` turns each name back into a :class:`~dbplex.partition.model.Partition` here. A
name counts only if the spec would give exactly that name to exactly that partition, so a
collection such as ``logs_p2026_11_backup`` or a key ``live:updates:1234`` is never taken for
a partition.
"""

from __future__ import annotations

from datetime import datetime, timezone

from dbplex.partition.layout import fixed_partitions, number_partition, time_partition
from dbplex.partition.model import Partition, identifier
from dbplex.partition.spec import PartitionSpec

#: the label forms :meth:`Interval.label` writes, coarsest first.
_TIME_FORMS = ("%Y", "%Y-%m", "%Y-%m-%d", "%Y-%m-%dT%H", "%Y-%m-%dT%H%M")


def from_label(spec: PartitionSpec, label: str) -> Partition | None:
    """The partition of ``spec`` whose label is ``label``, or None when no partition has it."""
    for partition in fixed_partitions(spec):
        if partition.label == label:
            return partition
    if spec.strategy != "range":
        return None
    candidate: Partition | None = None
    if spec.is_time_range:
        for form in _TIME_FORMS:
            try:
                lower = datetime.strptime(label, form).replace(tzinfo=timezone.utc)
            except ValueError:
                continue
            candidate = time_partition(spec, lower)
            break
    else:
        try:
            candidate = number_partition(spec, int(label))
        except ValueError:
            return None
    if candidate is None or candidate.label != label or not _aligned(spec, candidate):
        return None
    return candidate


def from_name(spec: PartitionSpec, name: str) -> Partition | None:
    """The partition of ``spec`` whose table/collection name (:attr:`Partition.name`) is ``name``."""
    base = identifier(spec.target) + "_"
    if not name.startswith(base):
        return None
    rest = name[len(base) :]
    label = rest
    if spec.strategy == "range" and rest.startswith("p"):
        stamp = rest[1:]
        if spec.is_time_range:
            parts = stamp.split("_")
            label = "-".join(parts[:3]) + (f"T{parts[3]}" if len(parts) == 4 else "")
            if len(parts) > 4:
                return None
        else:
            label = "-" + stamp[1:] if stamp.startswith("m") else stamp
    partition = from_label(spec, label)
    return partition if partition is not None and partition.name == name else None


def _aligned(spec: PartitionSpec, partition: Partition) -> bool:
    if spec.is_time_range:
        interval = spec.time_interval
        assert interval is not None and isinstance(partition.lower, datetime)
        return interval.floor(partition.lower) == partition.lower
    assert spec.step is not None and isinstance(partition.lower, int)
    return (partition.lower - spec.start) % spec.step == 0
