"""PartitionSpec validation (every backend) and configuration loading with field paths."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import msgspec
import pytest

import dbplex
from dbplex.config import from_dict, load_partitions
from dbplex.errors import ConfigError
from dbplex.partition import PartitionSpec

from .conftest import time_spec

PG = {"pg": {"url": "postgresql://u:s3cret@localhost/db"}}


def problems_of(**fields: object) -> str:
    base: dict[str, object] = {"source": "pg", "target": "t", "key": "k"}
    with pytest.raises(ValueError, match=".") as info:
        PartitionSpec(**{**base, **fields})  # type: ignore[arg-type]
    return str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strategy": "range"}, "exactly one of `interval` (time) or `step` (numbers)"),
        ({"strategy": "range", "interval": "1 day", "step": 10}, "exactly one of"),
        ({"strategy": "range", "interval": "fortnight"}, "is not an interval"),
        ({"strategy": "hash"}, "needs `modulus`"),
        ({"strategy": "list"}, "needs `lists`"),
        ({"strategy": "list", "lists": {"a": [1], "b": [1]}}, "value 1 is in both 'a' and 'b'"),
        ({"strategy": "hash", "modulus": 4, "interval": "1 day"}, "`interval` applies to range partitioning only"),
        ({"strategy": "hash", "modulus": 4, "retention": "30 days"}, "`retention` needs time ranges"),
        ({"strategy": "range", "step": 10, "retention": "30 days"}, "`retention` needs time ranges"),
        ({"strategy": "hash", "modulus": 4, "default": True}, "cannot have a default partition"),
        ({"strategy": "range", "interval": "1 day", "retention_mode": "archive"}, "needs `archive`"),
        ({"strategy": "range", "interval": "1 day", "since": "last tuesday"}, "neither an ISO date"),
        ({"strategy": "hash", "modulus": 4, "since": "2025-01-01"}, "`since` needs time ranges"),
        ({"strategy": "hash", "modulus": 4, "target": "bad name"}, "must be an identifier"),
    ],
)
def test_invalid_specs_say_what_is_wrong(fields: dict[str, object], message: str) -> None:
    assert message in problems_of(**fields)


def test_since_accepts_a_date_or_a_length() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    assert time_spec(since="2025-01-15").since_moment(now) == datetime(2025, 1, 15, tzinfo=timezone.utc)
    assert time_spec(since="18 months").since_moment(now) == datetime(2025, 5, 25, 12, tzinfo=timezone.utc)
    assert time_spec().since_moment(now) is None


def test_config_partitions_are_validated_with_field_paths() -> None:
    spec = {"source": "pg", "target": "games", "strategy": "range", "key": "starts_at", "interval": "1 month"}
    config = from_dict({"sources": PG, "partitions": {"games": spec}})
    assert config.partitions["games"].name == "games"
    assert config.partitions["games"].label == "games"
    with pytest.raises(ConfigError, match=r"at `partitions\.games`") as info:
        from_dict({"sources": PG, "partitions": {"games": {**spec, "interval": None}}})
    assert "exactly one of" in str(info.value)
    with pytest.raises(ConfigError, match=r"unknown field `premade` - at `partitions\.games`"):
        from_dict({"sources": PG, "partitions": {"games": {**spec, "premade": 3}}})
    with pytest.raises(ConfigError, match=r"Expected `int`, got `str` - at `partitions\.games\.premake`"):
        from_dict({"sources": PG, "partitions": {"games": {**spec, "premake": "3"}}})
    with pytest.raises(
        ConfigError, match=r"`partitions\.games\.source` is 'mongo', which is not a configured source \(pg\)"
    ):
        from_dict({"sources": PG, "partitions": {"games": {**spec, "source": "mongo"}}})


def test_spec_file_reads_partitions_tables_and_expands_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEP", "30 days")
    file = tmp_path / "partitions.toml"
    file.write_text(
        '[partitions.audit]\nsource = "pg"\ntarget = "audit_logs"\nstrategy = "range"\nkey = "at"\n'
        'interval = "1 day"\nretention = "${KEEP}"\n'
    )
    specs = load_partitions(file, {"pg": from_dict({"sources": PG}).sources["pg"]})
    assert specs["audit"].retention == "30 days"
    (tmp_path / "other.toml").write_text("[sources.x]\nurl='redis://'\n")
    with pytest.raises(ConfigError, match=r"holds only \[partitions.NAME\] tables"):
        load_partitions(tmp_path / "other.toml")
    with pytest.raises(ConfigError, match="not found"):
        load_partitions(tmp_path / "missing.toml")


def test_a_spec_round_trips_through_json() -> None:
    spec = time_spec(retention="30 days", retention_mode="detach", options={"layout": "timeseries"})
    assert msgspec.json.decode(msgspec.json.encode(spec), type=PartitionSpec) == spec


def test_unknown_spec_name_on_the_hub_names_the_known_ones() -> None:
    hub = dbplex.Hub(from_dict({"sources": {}}), dbplex.plugins.load(use_entry_points=False))
    with pytest.raises(ConfigError, match=r"unknown partition spec 'games' \(configured: none configured\)"):
        hub.partitioned("games")
