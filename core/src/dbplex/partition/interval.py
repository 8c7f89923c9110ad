"""Calendar intervals for time partitions: parsing, alignment and stepping, all in UTC.

Months and years are calendar units (a month partition runs from the 1st to the 1st), so an
interval is either a number of months or a fixed number of seconds, never a mix. Partitions are
aligned to the epoch of their unit (midnight, Monday, the 1st of January), so every host that
computes them gets the same bounds.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_UNITS_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
_UNITS_MONTHS = {"month": 1, "year": 12}
_FORM = re.compile(r"\s*(?P<count>\d+)?\s*(?P<unit>[a-z]+?)s?\s*")
#: Monday 1970-01-05, so weekly partitions start on Mondays (ISO weeks).
_WEEK_EPOCH = datetime(1970, 1, 5, tzinfo=timezone.utc)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Interval:
    """A partition width: ``months`` calendar months, or else ``seconds`` seconds."""

    months: int = 0
    seconds: int = 0
    #: the unit it was written in, which decides how partitions are named.
    unit: str = "day"

    @classmethod
    def parse(cls, text: str) -> Interval:
        """``"1 day"``, ``"3 months"``, ``"week"``: a count (default 1) and a unit."""
        match = _FORM.fullmatch(text.lower())
        unit = match["unit"] if match else ""
        if not match or unit not in {*_UNITS_SECONDS, *_UNITS_MONTHS}:
            units = ", ".join([*_UNITS_SECONDS, *_UNITS_MONTHS])
            raise ValueError(f"{text!r} is not an interval: write a count and a unit ({units}), e.g. '1 month'")
        count = int(match["count"] or 1)
        if count < 1:
            raise ValueError(f"{text!r}: the count must be at least 1")
        if unit in _UNITS_MONTHS:
            return cls(months=count * _UNITS_MONTHS[unit], unit=unit)
        return cls(seconds=count * _UNITS_SECONDS[unit], unit=unit)

    def floor(self, moment: datetime) -> datetime:
        """The start of the partition that holds ``moment``."""
        moment = utc(moment)
        if self.months:
            index = (moment.year * 12 + moment.month - 1) // self.months * self.months
            return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)
        epoch = _WEEK_EPOCH if self.unit == "week" else _EPOCH
        offset = (moment - epoch) // timedelta(seconds=self.seconds)
        return epoch + offset * timedelta(seconds=self.seconds)

    def add(self, moment: datetime, count: int = 1) -> datetime:
        """``moment`` moved by ``count`` intervals (``moment`` should be aligned)."""
        if self.months:
            index = moment.year * 12 + moment.month - 1 + count * self.months
            return moment.replace(year=index // 12, month=index % 12 + 1)
        return moment + count * timedelta(seconds=self.seconds)

    def label(self, lower: datetime) -> str:
        """A readable, sortable name for the partition starting at ``lower``: ``2026-11``,
        ``2026-11-25``, ``2026-11-25T13``."""
        if self.unit == "year" and self.months % 12 == 0:
            return f"{lower:%Y}"
        if self.months:
            return f"{lower:%Y-%m}"
        if self.seconds % 86400 == 0:
            return f"{lower:%Y-%m-%d}"
        if self.seconds % 3600 == 0:
            return f"{lower:%Y-%m-%dT%H}"
        return f"{lower:%Y-%m-%dT%H%M}"

    def approximate(self) -> timedelta:
        """A duration for comparisons that need no calendar (a month counts 31 days)."""
        return timedelta(days=31 * self.months) if self.months else timedelta(seconds=self.seconds)


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def subtract(moment: datetime, months: int, seconds: int) -> datetime:
    """``moment`` minus calendar ``months`` (clamping the day to the month's length) or ``seconds``."""
    if months:
        index = moment.year * 12 + moment.month - 1 - months
        year, month = index // 12, index % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day)
    return moment - timedelta(seconds=seconds)
