"""Rules evaluated in Python over streamed rows: what core does when a checker cannot push a
rule to its server (Redis always; MongoDB for some rules). Memory stays one batch, except for
``duplicate``, which keeps one digest per distinct value seen."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from dbplex.check import canonical
from dbplex.check.backend import Outcome, Row
from dbplex.check.rules import Duplicate, Freshness, Invalid, Missing, Rule

_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (float, int), "bool": (bool,)}


def fields_of(rule: Rule) -> list[str]:
    """The fields a streamed evaluation of ``rule`` reads."""
    if isinstance(rule, (Missing, Duplicate)):
        return list(rule.fields)
    if isinstance(rule, (Invalid, Freshness)):
        return [rule.field]
    return []


def invalid(rule: Invalid, value: Any) -> bool:
    """Whether a non-null ``value`` breaks ``rule``."""
    if rule.type is not None:
        allowed = _TYPES[rule.type]
        if not isinstance(value, allowed) or (rule.type != "bool" and isinstance(value, bool)):
            return True
    if rule.values is not None and canonical.text(value) not in {canonical.text(v) for v in rule.values}:
        return True
    if rule.min is not None or rule.max is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True
        if (rule.min is not None and value < rule.min) or (rule.max is not None and value > rule.max):
            return True
    return rule.regex is not None and re.fullmatch(rule.regex, canonical.text(value)) is None


def newest(value: Any) -> dt.datetime | None:
    """``value`` (a datetime, a date or ISO 8601 text) as an aware UTC datetime, or None when it
    is not a timestamp."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):  # a day: its midnight, UTC
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def streamed(rule: Rule, batches: Iterable[list[Row]], sample: int) -> Outcome:
    """``rule`` over every row of ``batches``; offending keys in the order rows came."""
    outcome = Outcome(failed=0)
    seen: dict[int, Any] = {}  # duplicate: digest of the values -> first key, or True once reported
    for batch in batches:
        for key, values in batch:
            if isinstance(rule, Missing):
                bad = any(v is None for v in values)
            elif isinstance(rule, Invalid):
                bad = values[0] is not None and invalid(rule, values[0])
            elif isinstance(rule, Duplicate):
                if any(v is None for v in values):
                    continue
                digest = canonical.digest("", values)
                first = seen.get(digest)
                if first is None:
                    seen[digest] = key
                    continue
                bad = True
                if first is not True:  # the first holder of the value is a duplicate too
                    _fail(outcome, first, sample)
                    seen[digest] = True
            elif isinstance(rule, Freshness):
                moment = newest(values[0])
                if moment is not None and (outcome.value is None or moment > outcome.value):
                    outcome.value = moment
                continue
            else:
                raise TypeError(f"rule kind {type(rule).__name__} is not evaluated over rows")
            if bad:
                _fail(outcome, key, sample)
    return outcome


def _fail(outcome: Outcome, key: Any, sample: int) -> None:
    outcome.failed += 1
    if len(outcome.keys) < sample:
        outcome.keys.append(key)
