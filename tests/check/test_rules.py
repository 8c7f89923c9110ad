"""``[checks.NAME]`` is validated like the rest of the configuration: one message naming the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dbplex.config import from_dict, load_checks
from dbplex.errors import ConfigError

SOURCES = {"pg": {"url": "postgresql://h/db"}, "cache": {"url": "redis://h/0"}}


def error(rule: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        from_dict({"sources": SOURCES, "checks": {"r1": rule}})
    return str(caught.value)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"target": "pg.t"}, "missing required field `kind` - at `checks.r1` (kinds: reference, missing,"),
        ({"kind": "nope"}, "Invalid value 'nope' - at `checks.r1.kind` (kinds:"),
        (
            {"kind": "missing", "target": "pg.t", "fields": ["a"], "feilds": 1},
            "unknown field `feilds` - at `checks.r1`",
        ),
        ({"kind": "missing", "target": "pg.t", "fields": []}, "at `checks.r1.fields`"),
        ({"kind": "reference", "from": "pg.t", "to": "pg.u.id"}, "`checks.r1`: `from` is 'pg.t': name the field too"),
        (
            {"kind": "reference", "from": "x", "to": "pg.u.id"},
            "`from` is 'x', expected SOURCE.TABLE.FIELD or SOURCE.PATTERN*",
        ),
        (
            {"kind": "reference", "from": "docs.e.game_id", "to": "pg.u.id"},
            "reads 'docs.e.game_id', but 'docs' is not a configured source",
        ),
        (
            {"kind": "invalid", "target": "pg.t", "field": "a"},
            "an invalid rule needs `values`, `min`, `max`, `regex` or `type` - at `checks.r1`",
        ),
        ({"kind": "invalid", "target": "pg.t", "field": "a", "regex": "("}, "`regex` '(' is not a regular expression"),
        (
            {"kind": "freshness", "target": "pg.t", "field": "a", "within": "2 months"},
            "use minutes, hours, days or weeks",
        ),
        ({"kind": "freshness", "target": "pg.t", "field": "a", "within": "soon"}, "'soon' is not an interval"),
        ({"kind": "row_count", "target": "pg.t"}, "a row_count rule needs `min` or `max`"),
        ({"kind": "mirror", "source": "pg.t.id", "target": "cache.c:*"}, "`source` is 'pg.t.id': name a table"),
    ],
)
def test_a_bad_rule_is_one_message_naming_it(rule: dict[str, Any], message: str) -> None:
    assert message in error(rule)


def test_places_parse_tables_fields_and_key_families() -> None:
    checks = from_dict(
        {
            "sources": SOURCES,
            "checks": {
                "a": {"kind": "reference", "from": "cache.cache:teams:*", "to": "pg.teams.id"},
                "b": {"kind": "reference", "from": "cache.cache:teams:*.venue", "to": "pg.venues.profile.x"},
            },
        }
    ).checks
    assert [str(p) for p in checks["a"].places()] == ["cache.cache:teams:*", "pg.teams.id"]
    assert [(p.table, p.field) for p in checks["b"].places()] == [("cache:teams:*", "venue"), ("venues", "profile.x")]


def test_a_checks_file_holds_only_checks(tmp_path: Path) -> None:
    path = tmp_path / "checks.toml"
    path.write_text('[checks.a]\nkind = "row_count"\ntarget = "pg.t"\nmin = 1\n[sources.x]\nurl = "redis://h"\n')
    with pytest.raises(ConfigError, match=r"a checks file holds only \[checks.NAME\] tables, found \['sources'\]"):
        load_checks(path)
    path.write_text('[checks.a]\nkind = "row_count"\ntarget = "pg.t"\nmin = "${MIN_ROWS:-3}"\n')
    assert load_checks(path, from_dict({"sources": SOURCES}).sources)["a"].min == 3  # type: ignore[union-attr]
