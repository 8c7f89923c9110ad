"""Reading replication lag out of ``replSetGetStatus`` replies, shaped as mongod 7 sends them.

No server here: the sandbox's nx-27017 does not replicate. The replica-set test in
test_replication_features.py reads a real one where the suite is given it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dbplex_mongo.health import replication_lag

NOW = datetime(2026, 12, 6, 12, 0, 0)


def member(name: str, state: int, behind: float | None, me: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "state": state, "stateStr": {1: "PRIMARY", 2: "SECONDARY"}.get(state, "")}
    if behind is not None:
        found["optimeDate"] = NOW - timedelta(seconds=behind)
    if me:
        found["self"] = True
    return found


def test_a_primary_reports_each_secondary_by_address_and_skips_arbiters() -> None:
    reply = {
        "members": [
            member("a:27017", 1, 0, me=True),
            member("b:27017", 2, 2.5),
            member("c:27017", 7, None),  # an arbiter has no optime
            member("d:27017", 8, None),  # a member down
        ]
    }
    assert replication_lag(reply) == (None, {"b:27017": 2.5})


def test_a_secondary_reports_its_own_lag_and_never_a_negative_one() -> None:
    assert replication_lag({"members": [member("a:1", 1, 1.0), member("b:1", 2, 4.0, me=True)]}) == (3.0, {})
    assert replication_lag({"members": [member("a:1", 1, 1.0), member("b:1", 2, 0.0, me=True)]}) == (0.0, {})


def test_without_a_primary_or_a_reply_there_is_no_lag() -> None:
    assert replication_lag({}) == (None, {})
    assert replication_lag({"members": [member("b:1", 2, 0.0, me=True)]}) == (None, {})
