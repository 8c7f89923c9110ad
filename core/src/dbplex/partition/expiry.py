"""When a time partition leaves the retention window, for backends whose storage expires on its own.

A Redis bucket gets a TTL, a MongoDB time-series collection ``expireAfterSeconds``. The moment
must be the one at which the planner would retire the partition (``upper <= now - retention``,
with calendar months), never earlier: expiring a month partition at ``upper + 1 month`` would
be a day early after a 31st clamped to the 30th.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

from dbplex.partition.interval import utc
from dbplex.partition.model import Partition
from dbplex.partition.spec import PartitionSpec


def expires_at(spec: PartitionSpec, partition: Partition) -> datetime | None:
    """The first moment at which every row ``partition`` can hold is past ``spec``'s retention.

    None when nothing expires (no retention, or not a time partition).
    """
    retention = spec.retention_interval
    if retention is None or partition.kind != "range" or not isinstance(partition.upper, datetime):
        return None
    upper = utc(partition.upper)
    if not retention.months:
        return upper + timedelta(seconds=retention.seconds)
    index = upper.year * 12 + upper.month - 1 + retention.months
    year, month = index // 12, index % 12 + 1
    if upper.day <= calendar.monthrange(year, month)[1]:
        return upper.replace(year=year, month=month)
    # the day does not exist in that month: ``now - retention`` clamps to the month's last day,
    # which is still before ``upper`` until the next month begins
    index += 1
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)


def retention_seconds(spec: PartitionSpec) -> int | None:
    """Retention as a whole number of seconds, never shorter than the window (a month counts 31 days)."""
    retention = spec.retention_interval
    return None if retention is None else int(retention.approximate().total_seconds())
