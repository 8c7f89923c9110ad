"""Workloads: YCSB properties files, -p overrides, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbplex.bench import properties, workload
from dbplex.errors import ConfigError

WORKLOADS = Path(__file__).resolve().parents[2] / "benchmarks" / "workloads"


@pytest.mark.parametrize("letter", "abcdef")
def test_shipped_files_are_the_builtin_workloads(letter: str) -> None:
    from_file = workload.load(str(WORKLOADS / f"workload{letter}"))
    builtin = workload.load(letter)
    assert from_file.workload == builtin.workload
    assert from_file.hash == builtin.hash
    assert builtin.name == f"workload{letter}"


def test_canonical_parameters() -> None:
    a, c, d, e, f = (workload.load(x).workload for x in "acdef")
    assert (a.readproportion, a.updateproportion, a.requestdistribution) == (0.5, 0.5, "zipfian")
    assert (c.readproportion, c.requestdistribution) == (1.0, "zipfian")
    assert (d.insertproportion, d.requestdistribution) == (0.05, "latest")
    assert (e.scanproportion, e.maxscanlength, e.scanlengthdistribution) == (0.95, 100, "uniform")
    assert f.readmodifywriteproportion == 0.5
    assert (a.recordcount, a.operationcount, a.fieldcount, a.fieldlength, a.table) == (1000, 1000, 10, 100, "usertable")


def test_names_are_case_insensitive_with_or_without_prefix() -> None:
    assert workload.load("C").name == workload.load("workloadc").name == "workloadc"


def test_overrides_win_and_derived_defaults_follow_them() -> None:
    resolved = workload.load("a", {"recordcount": "5000", "operationcount": "200000"})
    w = resolved.workload
    assert (w.recordcount, w.insertcount, w.operationcount) == (5000, 5000, 200000)
    assert w.warmupoperationcount == workload.WARMUP_CAP  # a tenth, capped
    assert workload.load("a", {"operationcount": "500"}).workload.warmupoperationcount == 50


def test_client_keys_are_kept_apart_from_the_hash() -> None:
    plain = workload.load("c")
    tuned = workload.load("c", {"threadcount": "8", "target": "1000", "maxexecutiontime": "30"})
    assert (tuned.client.threadcount, tuned.client.target, tuned.client.maxexecutiontime) == (8, 1000.0, 30.0)
    assert tuned.hash == plain.hash
    assert workload.load("c", {"fieldlength": "10"}).hash != plain.hash


def test_ycsb_measurement_keys_are_accepted_and_reported_as_ignored(tmp_path: Path) -> None:
    path = tmp_path / "w"
    path.write_text(
        "recordcount=10\noperationcount=10\nmeasurementtype=hdrhistogram\nreadproportion=1\nupdateproportion=0\n"
    )
    resolved = workload.load(str(path))
    assert resolved.ignored == {"measurementtype": "hdrhistogram"}


def test_unknown_key_names_the_key_where_it_was_and_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "mine"
    path.write_text("# comment\nrecordcount=10\nreadproprtion=1\n")
    with pytest.raises(
        ConfigError,
        match=r"unknown workload property 'readproprtion' \(.*mine line 3\); did you mean 'readproportion'\?",
    ):
        workload.load(str(path))
    with pytest.raises(ConfigError, match=r"'colour' \(-p colour\)"):
        workload.load("a", {"colour": "red"})


def test_ycsb_features_we_lack_are_refused_with_the_reason() -> None:
    with pytest.raises(
        ConfigError, match=r"'dataintegrity' \(-p dataintegrity\) is not supported: values are not verified"
    ):
        workload.load("a", {"dataintegrity": "true"})


def test_proportions_must_add_up_to_one_and_the_error_names_them() -> None:
    with pytest.raises(
        ConfigError, match=r"add up to 0\.9, not 1: readproportion=0\.4, updateproportion=0\.5.*-p readproportion"
    ):
        workload.load("a", {"readproportion": "0.4"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("fieldcount", "ten", "expected an integer >= 1"),
        ("fieldcount", "0", "must be at least 1"),
        ("readproportion", "1.5", "between 0 and 1"),
        ("readallfields", "yes", "true or false"),
        ("requestdistribution", "pareto", "one of uniform, zipfian, latest, hotspot"),
        ("table", "user-table", "identifier"),
        ("target", "fast", "a number >= 0"),
    ],
)
def test_bad_values_name_the_key_and_what_would_fit(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"'{key}' \(-p {key}\): '{value}': .*{message}"):
        workload.load("a", {key: value})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"insertcount": "5000"}, "insertstart .* insertcount .* exceeds recordcount"),
        ({"minscanlength": "50", "maxscanlength": "10"}, "minscanlength .* exceeds maxscanlength"),
        ({"operationcount": "0"}, "never end"),
        ({"recordcount": "0"}, "nothing to read"),
        ({"workload": "site.ycsb.workloads.RestWorkload"}, "not supported"),
    ],
)
def test_rules_between_properties(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        workload.load("a", overrides)


def test_missing_file_says_what_a_name_may_be(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a built-in workload \(a, b, c, d, e, f\) and no such file"):
        workload.load(str(tmp_path / "nope"))


def test_properties_syntax() -> None:
    text = "! bang comment\n# hash comment\n\na=1\nb : two\nc three\nlong = x\\\n    y\nempty=\n"
    assert [(k, v) for k, v, _ in properties.parse(text, "t")] == [
        ("a", "1"),
        ("b", "two"),
        ("c", "three"),
        ("long", "xy"),
        ("empty", ""),
    ]
    assert [line for _, _, line in properties.parse(text, "t")] == [4, 5, 6, 7, 9]
