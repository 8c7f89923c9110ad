"""Running rules: each rule's places get a fresh checker (so its read counter is the rule's own),
the rule is pushed to the server where the checker can, streamed otherwise, and the verdict is a
:class:`~dbplex.check.report.CheckResult`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dbplex.check import canonical, evaluate, mirror
from dbplex.check.report import CheckResult, Report
from dbplex.check.rules import Freshness, Mirror, Reference, RowCount, Rule
from dbplex.errors import ConfigError

if TYPE_CHECKING:
    from dbplex.check.backend import Checker
    from dbplex.hub import Hub

#: rows per batch when streaming a table or looking keys up.
BATCH = 1000


def select(rules: Mapping[str, Rule], names: Sequence[str]) -> dict[str, Rule]:
    """The rules named (all when none are), in the order given; an unknown name is a ConfigError."""
    if not names:
        return dict(rules)
    unknown = [n for n in names if n not in rules]
    if unknown:
        known = ", ".join(sorted(rules)) or "none configured"
        raise ConfigError(f"unknown check {unknown[0]!r} (configured: {known})")
    return {name: rules[name] for name in names}


def run(hub: Hub, rules: Mapping[str, Rule], sample: int = 10, now: dt.datetime | None = None) -> Report:
    """Run ``rules`` on ``hub``'s sources; ``sample`` is how many offending keys each reports."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    results = [check(hub, name, rule, sample, moment) for name, rule in rules.items()]
    return Report(ok=all(r.status == "pass" for r in results), checks=results)


def check(hub: Hub, name: str, rule: Rule, sample: int, now: dt.datetime) -> CheckResult:
    """One rule's verdict."""
    kind = type(rule).__struct_config__.tag
    result = CheckResult(name=name, kind=str(kind), status="pass", description=rule.description)
    places = rule.places()
    checkers = [hub.checker(place.source) for place in places]
    if isinstance(rule, Reference):
        _reference(rule, checkers, result, sample)
    elif isinstance(rule, Mirror):
        fields = list(rule.fields)
        source = mirror.Side(checkers[0], places[0], rule.key, fields)
        target = mirror.Side(checkers[1], places[1], rule.target_key, [rule.fields[f] for f in fields])
        mirror.compare(rule, source, target, result, sample)
        failed = result.missing.count + result.extra.count + result.different.count
        result.status = "fail" if failed else "pass"
    else:
        _rule(rule, checkers[0], places[0].table, result, sample, now)
    for place, checker in zip(places, checkers, strict=True):
        where = f"{place.source}.{place.table}"
        result.reads[where] = result.reads.get(where, 0) + checker.reads
    return result


def _reference(rule: Reference, checkers: list[Checker], result: CheckResult, sample: int) -> None:
    """Orphans: rows of ``from`` whose value no row of ``to`` holds, a batch at a time."""
    src, dst = rule.places()
    fields = [src.field] if src.field is not None else []
    for batch in checkers[0].batches(src.table, rule.key, fields, BATCH):
        pairs = [(key, key if src.field is None else values[0]) for key, values in batch]
        wanted = {canonical.text(value) for _, value in pairs if value is not None}
        present = checkers[1].existing(dst.table, dst.field, sorted(wanted)) if wanted else set()
        for key, value in pairs:
            if value is not None and canonical.text(value) not in present:
                result.violations.add({"key": canonical.text(key), "value": canonical.text(value)}, sample)
    result.status = "fail" if result.violations.count else "pass"


def _rule(rule: Rule, checker: Checker, table: str, result: CheckResult, sample: int, now: dt.datetime) -> None:
    key = getattr(rule, "key", None)
    if isinstance(rule, RowCount):
        rows = checker.count(table)
        result.value = rows
        bad = (rule.min is not None and rows < rule.min) or (rule.max is not None and rows > rule.max)
        result.status = "fail" if bad else "pass"
        return
    outcome = checker.evaluate(table, key, rule, sample)
    if outcome is None:
        batches = checker.batches(table, key, evaluate.fields_of(rule), BATCH)
        outcome = evaluate.streamed(rule, batches, sample)
    if isinstance(rule, Freshness):
        newest = evaluate.newest(outcome.value)
        result.value = None if newest is None else newest.isoformat()
        stale = newest is None or (now - newest).total_seconds() > rule.seconds
        result.status = "fail" if stale else "pass"
        return
    result.violations.count = outcome.failed
    result.violations.sample = [canonical.text(k) for k in outcome.keys]
    result.status = "fail" if outcome.failed else "pass"
