"""Configuration: TOML, ${ENV} interpolation, errors that name the field, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbplex import config
from dbplex.errors import ConfigError

GOOD = """
[sources.primary]
url = "postgresql://app:${DBPLEX_TEST_SECRET}@db1:5432/app"
[sources.primary.pool]
min_size = 2
max_size = 20

[sources.cache]
url = "redis://127.0.0.1:6379/0"
required = false
options = { prefix = "cache:", ttl = 300 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dbplex.toml"
    path.write_text(text)
    return path


def test_loads_sources_pool_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBPLEX_TEST_SECRET", "s3cr3t-pw")
    loaded = config.load(write(tmp_path, GOOD))
    primary, cache = loaded.sources["primary"], loaded.sources["cache"]
    assert primary.url == "postgresql://app:s3cr3t-pw@db1:5432/app"
    assert (primary.pool.min_size, primary.pool.max_size, primary.pool.timeout) == (2, 20, 5.0)
    assert primary.required and not cache.required
    assert cache.options == {"prefix": "cache:", "ttl": 300}
    assert loaded.path == str(tmp_path / "dbplex.toml")


def test_password_never_appears_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBPLEX_TEST_SECRET", "s3cr3t-pw")
    loaded = config.load(write(tmp_path, GOOD))
    assert "s3cr3t-pw" not in repr(loaded.sources["primary"])
    assert "s3cr3t-pw" not in repr(loaded)


def test_env_default_is_used_when_variable_is_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBPLEX_NOPE", raising=False)
    loaded = config.load(write(tmp_path, '[sources.a]\nurl = "redis://${DBPLEX_NOPE:-localhost}:6379"\n'))
    assert loaded.sources["a"].url == "redis://localhost:6379"


def test_unset_env_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBPLEX_NOPE", raising=False)
    with pytest.raises(ConfigError, match=r"sources\.a\.url: environment variable DBPLEX_NOPE is not set"):
        config.load(write(tmp_path, '[sources.a]\nurl = "redis://${DBPLEX_NOPE}:6379"\n'))


def test_number_fields_take_a_whole_env_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBPLEX_NOPE", raising=False)
    monkeypatch.setenv("DBPLEX_TEST_TIMEOUT", "2.5")
    monkeypatch.setenv("DBPLEX_TEST_PREMAKE", "3")
    text = (
        '[sources.a]\nurl = "redis://x"\nconnect_timeout = "${DBPLEX_TEST_TIMEOUT}"\n'
        'replicas = ["redis://${DBPLEX_NOPE:-7}"]\noptions = { db_pass = "${DBPLEX_NOPE:-1234}" }\n'
        '[sources.a.pool]\nmax_size = "${DBPLEX_NOPE:-4}"\n[sources.a.routing.breaker]\nfailures = "${DBPLEX_NOPE:-5}"\n'
        '[partitions.p]\nsource = "a"\ntarget = "t"\nstrategy = "range"\nkey = "n"\nstep = "${DBPLEX_NOPE:-10}"\n'
        'premake = "${DBPLEX_TEST_PREMAKE}"\n'
    )
    loaded = config.load(write(tmp_path, text))
    source = loaded.sources["a"]
    assert (source.pool.max_size, source.connect_timeout, source.routing.breaker.failures) == (4, 2.5, 5)
    assert (loaded.partitions["p"].step, loaded.partitions["p"].premake) == (10, 3)
    assert source.options == {"db_pass": "1234"}  # options keep strings: the backend decides
    assert source.replicas == ["redis://7"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("four", r"sources\.a\.pool\.max_size: \$\{DBPLEX_TEST_N\} gives 'four', which is not a whole number"),
        ("4.5", r"sources\.a\.pool\.max_size: \$\{DBPLEX_TEST_N\} gives '4.5', which is not a whole number"),
        ("-1", r"Expected `int` >= 1 - at `sources\.a\.pool\.max_size`"),
    ],
)
def test_a_number_from_the_environment_that_is_not_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("DBPLEX_TEST_N", value)
    with pytest.raises(ConfigError, match=expected):
        config.load(
            write(tmp_path, '[sources.a]\nurl = "redis://x"\n[sources.a.pool]\nmax_size = "${DBPLEX_TEST_N}"\n')
        )


def test_a_float_from_the_environment_that_is_not_one_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBPLEX_TEST_N", "soon")
    with pytest.raises(ConfigError, match=r"connect_timeout: \$\{DBPLEX_TEST_N\} gives 'soon', which is not a number"):
        config.load(write(tmp_path, '[sources.a]\nurl = "redis://x"\nconnect_timeout = "${DBPLEX_TEST_N}"\n'))


def test_partition_spec_files_take_numbers_from_the_environment(tmp_path: Path) -> None:
    spec = tmp_path / "specs.toml"
    spec.write_text(
        '[partitions.p]\nsource = "a"\ntarget = "t"\nstrategy = "hash"\nkey = "n"\nmodulus = "${DBPLEX_NOPE:-8}"\n'
    )
    assert config.load_partitions(spec)["p"].modulus == 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[sources.a]\nurl = "redis://x"\n[sources.a.pool]\nmax_size = "ten"\n',
            r"Expected `int`, got `str` - at `sources\.a\.pool\.max_size`",
        ),
        (
            '[sources.a]\nurl = "redis://x"\nconnect_timeout = -1\n',
            r"Expected `float` > 0.0 - at `sources\.a\.connect_timeout`",
        ),
        ('[sources.a]\nurl = "redis://x"\nurll = 1\n', r"unknown field `urll` - at `sources\.a`"),
        ("[sources.a]\nrequired = true\n", r"missing required field `url` - at `sources\.a`"),
        (
            '[sources.a]\nurl = "redis://x"\n[sources.a.pool]\nmin_size = 5\nmax_size = 2\n',
            r"min_size \(5\) must not exceed max_size \(2\)",
        ),
        ('[sources."bad name"]\nurl = "redis://x"\n', r"source name .bad name. must start with a letter"),
        (
            '[sources.a]\nurl = "redis://x"\noperation_timeout = 0\n',
            r"Expected `float` > 0.0 - at `sources\.a\.operation_timeout`",
        ),
        ("[migration_lock]\nwait = -1\n", r"Expected `float` >= 0.0 - at `migration_lock\.wait`"),
        ("[migration_lock]\nttl = 0.5\n", r"Expected `float` >= 1.0 - at `migration_lock\.ttl`"),
    ],
)
def test_invalid_field_names_file_path_and_expectation(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        config.load(path)
    assert str(path) in str(info.value)


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[sources.a\nurl = 1\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        config.load(path)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found.*--config FILE.*DBPLEX_CONFIG.*sandbox up"):
        config.load(tmp_path / "nope.toml")


def test_lookup_order_is_explicit_then_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBPLEX_CONFIG", "/from/env.toml")
    assert config.find("given.toml") == Path("given.toml")
    assert config.find() == Path("/from/env.toml")
    monkeypatch.delenv("DBPLEX_CONFIG")
    assert config.find() == Path("dbplex.toml")


def test_operation_timeout_and_migration_lock_default_and_load(tmp_path: Path) -> None:
    defaults = config.load(write(tmp_path, '[sources.a]\nurl = "redis://x"\n'))
    assert defaults.sources["a"].operation_timeout is None  # each backend's own default
    assert (defaults.migration_lock.wait, defaults.migration_lock.ttl) == (60.0, 15.0)
    text = '[migration_lock]\nwait = 5\nttl = 3\n[sources.a]\nurl = "redis://x"\noperation_timeout = 2.5\n'
    loaded = config.load(write(tmp_path, text))
    assert loaded.sources["a"].operation_timeout == 2.5
    assert (loaded.migration_lock.wait, loaded.migration_lock.ttl) == (5.0, 3.0)
