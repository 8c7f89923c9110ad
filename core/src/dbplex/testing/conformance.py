"""The backend conformance suite: what every dbplex backend must do the same way.

Use it from a backend's tests::

    from dbplex.testing.conformance import ConformanceSuite

    class TestMyBackend(ConformanceSuite):
        backend = "mydb"            # a name dbplex_servers knows, or override `source_url`

        def kill_connections(self, url, tag): ...   # end the server sessions of a test's pool

It is made of sections, one module each, all run through dbplex's public surface:

- records, transactions, health (this module, :class:`RecordsSection`);
- pools (:mod:`.conformance_pool`);
- migrations, partitioning, the bench baseline (:mod:`.conformance_migrate`,
  :mod:`.conformance_partition`, :mod:`.conformance_baseline`), for a backend whose plugin
  implements that hook;
- data quality: the checker, the describer and the change feed (:mod:`.conformance_quality`),
  for a backend whose plugin implements ``dbplex_check``, ``dbplex_describe``, ``dbplex_watch``;
- capabilities (:mod:`.conformance_capabilities`): every declared one works.

A section for something the backend does not declare is skipped with that reason; once
declared, its tests must pass. Where the server behind the URL lacks a feature (e.g. MongoDB
transactions on a standalone server), the backend raises :class:`~dbplex.errors.UnsupportedError`
and the records tests skip with that reason, while the capability test fails unless the class
names the gap in ``server_lacks``. A subclass may also run single sections (``RecordsSection``
for a variant of a source already certified whole).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import dbplex
from dbplex import Delete, Get, Put, PutMany, Scan, Status, Update
from dbplex.errors import UnsupportedError
from dbplex.testing.conformance_base import SuiteBase
from dbplex.testing.conformance_baseline import BaselineSection
from dbplex.testing.conformance_capabilities import CapabilitySection
from dbplex.testing.conformance_migrate import MigrateSection
from dbplex.testing.conformance_partition import PartitionSection
from dbplex.testing.conformance_pool import PoolSection, with_port
from dbplex.testing.conformance_quality import ChangeFeedSection, CheckerSection, DescriberSection
from dbplex.values import INT_MAX, INT_MIN, MAX_DEPTH, MAX_KEY_BYTES

__all__ = [
    "SAMPLE_VALUES",
    "BaselineSection",
    "CapabilitySection",
    "ConformanceSuite",
    "MigrateSection",
    "PartitionSection",
    "PoolSection",
    "RecordsSection",
    "SuiteBase",
]

#: values of every supported type, so each backend's encoding is exercised.
SAMPLE_VALUES: dict[str, Any] = {
    "text": "héllo wörld ✓ 日本",
    "empty": "",
    "raw": b"\x00\x01\xffbinary",
    "int": 42,
    "big": 2**63 - 1,
    "small": -(2**63),
    "float": 3.25,
    "tiny": 1e-300,
    "huge": 1e300,
    "whole_float": 2.0,
    "yes": True,
    "no": False,
    "nothing": None,
    "list": [1, "two", 3.5, None, [True]],
    "dict": {"a": {"b": [1, 2]}, "c": "d", "e": b"\x02"},
}


@contextmanager
def _skip_unsupported() -> Iterator[None]:
    try:
        yield
    except UnsupportedError as exc:
        pytest.skip(str(exc))


class RecordsSection(SuiteBase):
    """Uniform record ops, transactions, the native connection, basic pool stats and health."""

    # -- records --------------------------------------------------------------------------------

    def test_put_then_get_round_trips_every_type(self, hub: dbplex.Hub, unique_table: str) -> None:
        assert hub.execute("s", Put(unique_table, "k1", SAMPLE_VALUES)).affected == 1
        row = hub.execute("s", Get(unique_table, "k1")).one()
        assert row == {"key": "k1", "values": SAMPLE_VALUES}
        for name, value in SAMPLE_VALUES.items():
            assert type(row["values"][name]) is type(value), name

    def test_put_over_an_existing_record_replaces_every_type(self, hub: dbplex.Hub, unique_table: str) -> None:
        hub.execute("s", Put(unique_table, "k1", SAMPLE_VALUES))
        changed = {**SAMPLE_VALUES, "raw": b"\x02other", "int": 43}
        assert hub.execute("s", Put(unique_table, "k1", changed)).affected == 1
        assert hub.execute("s", Get(unique_table, "k1")).one()["values"] == changed

    def test_put_many_writes_each_record_as_put_does(self, hub: dbplex.Hub, unique_table: str) -> None:
        with _skip_unsupported():  # optional: a backend without it is refused, callers put one by one
            written = hub.execute("s", PutMany(unique_table, {"b": SAMPLE_VALUES, "a": {"n": 1}, "日": {}}))
        assert written.affected == 3, "the table is created on first use, as by a Put"
        hub.execute("s", Put(unique_table, "c", {"old": 1}))
        records: dict[str, dict[str, Any]] = {"a": {"n": 2}, "c": {"new": [1.5, "x"]}}
        records.update({f"k{i:04}": {"i": i} for i in range(1500)})
        assert hub.execute("s", PutMany(unique_table, records)).affected == len(records)
        rows = hub.execute("s", Scan(unique_table, "", 2000)).rows
        assert {row["key"]: row["values"] for row in rows} == {"b": SAMPLE_VALUES, "日": {}, **records}
        got = hub.execute("s", Get(unique_table, "b")).one()["values"]
        assert {name: type(v) for name, v in got.items()} == {name: type(v) for name, v in SAMPLE_VALUES.items()}

    def test_update_keeps_types_exactly(self, hub: dbplex.Hub, unique_table: str) -> None:
        hub.execute("s", Put(unique_table, "k", {"a": 0}))
        values = {
            "yes": True,
            "no": False,
            "third": 1 / 3,
            "max": 1.7976931348623157e308,
            "big": 2**63 - 1,
            "none": None,
        }
        hub.execute("s", Update(unique_table, "k", values))
        got = hub.execute("s", Get(unique_table, "k")).one()["values"]
        assert got == {"a": 0, **values}
        assert {name: type(v) for name, v in got.items()} == {"a": int, **{name: type(v) for name, v in values.items()}}

    def test_non_ascii_field_names_are_written_and_updated(self, hub: dbplex.Hub, unique_table: str) -> None:
        hub.execute("s", Put(unique_table, "k", {"straße": 1, "名前": "a", "ascii": 0}))
        hub.execute("s", Update(unique_table, "k", {"straße": 2, "名前": "b"}))
        assert hub.execute("s", Get(unique_table, "k", fields=["straße", "名前"])).one()["values"] == {
            "straße": 2,
            "名前": "b",
        }

    def test_get_of_missing_key_returns_no_row(self, hub: dbplex.Hub, unique_table: str) -> None:
        result = hub.execute("s", Get(unique_table, "absent"))
        assert result.rows == [] and result.first() is None

    def test_put_replaces_the_whole_record(self, hub: dbplex.Hub, unique_table: str) -> None:
        hub.execute("s", Put(unique_table, "k", {"a": 1, "b": 2}))
        hub.execute("s", Put(unique_table, "k", {"c": 3}))
        assert hub.execute("s", Get(unique_table, "k")).one()["values"] == {"c": 3}

    def test_update_sets_fields_of_existing_record_only(self, hub: dbplex.Hub, unique_table: str) -> None:
        hub.execute("s", Put(unique_table, "k", {"a": 1, "b": 2}))
        assert hub.execute("s", Update(unique_table, "k", {"b": 20, "c": 30})).affected == 1
        assert hub.execute("s", Get(unique_table, "k")).one()["values"] == {"a": 1, "b": 20, "c": 30}
        assert hub.execute("s", Update(unique_table, "missing", {"a": 1})).affected == 0
        assert hub.execute("s", Get(unique_table, "missing")).rows == []

    def test_delete_reports_whether_it_removed_a_record(self, hub: dbplex.Hub, unique_table: str) -> None:
        hub.execute("s", Put(unique_table, "k", {"a": 1}))
        assert hub.execute("s", Delete(unique_table, "k")).affected == 1
        assert hub.execute("s", Delete(unique_table, "k")).affected == 0
        assert hub.execute("s", Get(unique_table, "k")).rows == []

    def test_fields_select_a_subset(self, hub: dbplex.Hub, unique_table: str) -> None:
        hub.execute("s", Put(unique_table, "k", {"a": 1, "b": 2, "c": 3}))
        row = hub.execute("s", Get(unique_table, "k", fields=["a", "c", "nope"])).one()
        assert row == {"key": "k", "values": {"a": 1, "c": 3}}
        scanned = hub.execute("s", Scan(unique_table, "", 10, fields=["b"])).rows
        assert scanned == [{"key": "k", "values": {"b": 2}}]

    def test_scan_returns_keys_from_start_in_code_point_order(self, hub: dbplex.Hub, unique_table: str) -> None:
        keys = ["b", "a", "B", "é", "z", "aa", "ä", "10", "9", "日"]
        for i, key in enumerate(keys):
            hub.execute("s", Put(unique_table, key, {"i": i}))
        ordered = sorted(keys)
        assert [r["key"] for r in hub.execute("s", Scan(unique_table, "", 100))] == ordered
        tail = [k for k in ordered if k >= "a"][:3]
        assert [r["key"] for r in hub.execute("s", Scan(unique_table, "a", 3))] == tail
        assert hub.execute("s", Scan(unique_table, "\U0010ffff", 5)).rows == []

    def test_scan_of_missing_table_is_empty(self, hub: dbplex.Hub, unique_table: str) -> None:
        assert hub.execute("s", Scan(unique_table, "", 10)).rows == []

    @pytest.mark.parametrize("kind", ["text", "bytes"])
    def test_values_of_a_mebibyte_and_more_round_trip(self, hub: dbplex.Hub, unique_table: str, kind: str) -> None:
        size = 1024 * 1024 + 17
        value: str | bytes = ("ü" * (size // 2)) if kind == "text" else bytes(range(256)) * (size // 256)
        hub.execute("s", Put(unique_table, "big", {"v": value}))
        assert hub.execute("s", Get(unique_table, "big")).one()["values"]["v"] == value

    def test_floats_keep_their_exact_value(self, hub: dbplex.Hub, unique_table: str) -> None:
        values = {"third": 1 / 3, "pi": math.pi, "neg": -2.5e-10, "e16": 1e16, "max": 1.7976931348623157e308}
        hub.execute("s", Put(unique_table, "f", values))
        got = hub.execute("s", Get(unique_table, "f")).one()["values"]
        assert got == values and all(type(v) is float for v in got.values())

    def test_keys_and_values_at_the_edges_of_the_domain_round_trip(self, hub: dbplex.Hub, unique_table: str) -> None:
        deep: Any = "leaf"
        for level in range(MAX_DEPTH):
            deep = {"d": deep} if level % 2 else [deep]
        values = {"ints": [INT_MIN, INT_MAX], "deep": deep}
        keys = [
            "k" * MAX_KEY_BYTES,
            "日" * (MAX_KEY_BYTES // 3),
            bytes(range(33, 127)).decode().ljust(MAX_KEY_BYTES, "~"),
        ]
        for key in keys:
            hub.execute("s", Put(unique_table, key, values))
            assert hub.execute("s", Get(unique_table, key)).one()["values"] == values
        assert [row["key"] for row in hub.execute("s", Scan(unique_table, limit=5)).rows] == sorted(keys)

    def test_tables_are_independent(self, hub: dbplex.Hub, unique_table: str) -> None:
        other = unique_table + "_other"
        hub.execute("s", Put(unique_table, "k", {"a": 1}))
        assert hub.execute("s", Get(other, "k")).rows == []
        assert hub.execute("s", Scan(other, "", 10)).rows == []

    # -- transactions ---------------------------------------------------------------------------

    def test_transaction_commits_on_success(self, hub: dbplex.Hub, unique_table: str) -> None:
        if not self.has(hub, "transactions"):
            pytest.skip("backend declares no transactions")
        hub.execute("s", Put(unique_table, "seed", {"a": 0}))
        with _skip_unsupported(), hub.transaction("s") as tx:
            tx.execute(Put(unique_table, "k1", {"a": 1}))
            tx.execute(Update(unique_table, "seed", {"a": 2}))
        assert hub.execute("s", Get(unique_table, "k1")).one()["values"] == {"a": 1}
        assert hub.execute("s", Get(unique_table, "seed")).one()["values"] == {"a": 2}

    def test_transaction_rolls_back_on_error(self, hub: dbplex.Hub, unique_table: str) -> None:
        if not self.has(hub, "transactions"):
            pytest.skip("backend declares no transactions")
        hub.execute("s", Put(unique_table, "seed", {"a": 0}))
        with _skip_unsupported(), pytest.raises(RuntimeError, match="boom"), hub.transaction("s") as tx:
            tx.execute(Put(unique_table, "k1", {"a": 1}))
            tx.execute(Update(unique_table, "seed", {"a": 2}))
            raise RuntimeError("boom")
        assert hub.execute("s", Get(unique_table, "k1")).rows == []
        assert hub.execute("s", Get(unique_table, "seed")).one()["values"] == {"a": 0}

    def test_transaction_without_capability_is_refused(self, hub: dbplex.Hub) -> None:
        if self.has(hub, "transactions"):
            pytest.skip("backend has transactions")
        with pytest.raises(UnsupportedError, match="no transactions"), hub.transaction("s"):
            pass

    # -- pool, connection, health ---------------------------------------------------------------

    def test_connection_gives_the_native_driver_object(self, hub: dbplex.Hub) -> None:
        with hub.connection("s") as conn:
            assert conn is not None and type(conn).__module__.split(".")[0] != "dbplex"

    def test_pool_stats_count_checkouts_in_the_common_schema(self, hub: dbplex.Hub, unique_table: str) -> None:
        for i in range(5):
            hub.execute("s", Put(unique_table, f"k{i}", {"i": i}))
        stats = hub.pool_stats()["s"]
        assert stats.source == "s" and stats.backend == hub.backend("s").name
        assert stats.acquired >= 5
        n = self.servers(hub)
        assert stats.max == 4 * n and stats.min == 1 * n
        assert stats.size >= 1 and stats.used == 0 and stats.idle == stats.size
        assert stats.wait.count >= 5

    def test_health_is_up_with_server_version_and_pool(self, hub: dbplex.Hub) -> None:
        report = hub.health()
        (check,) = report.sources
        assert report.status is Status.UP and report.ready
        assert check.status is Status.UP and check.server_version
        assert check.latency_ms is not None and check.latency_ms >= 0
        assert check.pool is not None and check.pool.max == 4 * self.servers(hub)

    @pytest.fixture
    def unreachable_url(self, source_url: str, free_port: int) -> str:
        """A URL of this backend where nothing answers; a file-based backend returns a path it cannot open."""
        return with_port(source_url, free_port)

    def test_unreachable_server_reports_down_and_names_the_source(self, unreachable_url: str) -> None:
        with dbplex.open({"sources": {"gone": {"url": unreachable_url, "connect_timeout": 2}}}) as hub:
            with pytest.raises(dbplex.SourceUnavailable, match="gone"):
                hub.execute("gone", Get("t", "k"))
            check = hub.health().sources[0]
        assert check.status is Status.DOWN and check.error


class ConformanceSuite(
    RecordsSection,
    PoolSection,
    MigrateSection,
    PartitionSection,
    BaselineSection,
    CheckerSection,
    DescriberSection,
    ChangeFeedSection,
    CapabilitySection,
):
    """Every section. Subclass, set :attr:`backend`, implement
    :meth:`~dbplex.testing.conformance_base.SuiteBase.kill_connections`; override ``source_url``
    for other servers."""
