"""The pure parts of pooling: jittered lifetimes, reconnect backoff, pool settings' validation."""

from __future__ import annotations

import pytest

import dbplex
from dbplex.pooling.jitter import Backoff, lifetime_deadline


def test_lifetimes_are_spread_below_the_configured_maximum() -> None:
    deadlines = [lifetime_deadline(100.0, 10.0, 0.2) for _ in range(200)]
    assert all(108.0 <= d <= 110.0 for d in deadlines)
    assert max(deadlines) - min(deadlines) > 1.0  # spread, not in step
    assert lifetime_deadline(100.0, 10.0, 0.0) == 110.0


def test_backoff_grows_to_its_cap_and_resets_on_success() -> None:
    backoff = Backoff(0.5, 4.0)
    assert backoff.wait_left() == 0.0 and backoff.reason is None
    waits = []
    for _ in range(6):
        backoff.failed("connection refused")
        waits.append(backoff.wait_left())
    assert all(0 < w <= 4.0 for w in waits)
    assert waits[0] <= 0.5 and waits[-1] >= 1.9  # full jitter between half the delay and the delay
    assert backoff.reason == "connection refused" and backoff.down_since is not None
    backoff.succeeded()
    assert backoff.wait_left() == 0.0 and backoff.reason is None and backoff.down_since is None


@pytest.mark.parametrize(
    ("pool", "error"),
    [
        (
            {"reconnect_min": 5, "reconnect_max": 1},
            "reconnect_min (5) must not exceed reconnect_max (1) - at `sources.s.pool`",
        ),
        ({"lifetime_jitter": 0.9}, "Expected `float` <= 0.5 - at `sources.s.pool.lifetime_jitter`"),
        ({"max_waiting": -1}, "Expected `int` >= 0 - at `sources.s.pool.max_waiting`"),
        ({"leak_threshold": -1}, "Expected `float` >= 0.0 - at `sources.s.pool.leak_threshold`"),
        ({"keepalive": "often"}, "Expected `float`, got `str` - at `sources.s.pool.keepalive`"),
    ],
)
def test_pool_settings_are_validated_with_the_field_path(pool: dict[str, object], error: str) -> None:
    with pytest.raises(dbplex.ConfigError) as raised:
        dbplex.config.from_dict({"sources": {"s": {"url": "redis://localhost/0", "pool": pool}}})
    assert str(raised.value) == f"configuration: {error}"
