"""The guarded plugin loader: entry points, in-process plugins, errors, allow and block lists."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

import dbplex
from dbplex import Backend, hookimpl, plugins
from dbplex.config import SourceConfig
from dbplex.errors import ConfigError, PluginError, UnknownSchemeError


def backend_plugin(name: str, schemes: tuple[str, ...], answer: str | None = None, **extra: Any) -> Any:
    """A plugin object registering one backend; its query hook answers ``answer`` for any source."""

    class Plugin:
        @hookimpl
        def dbplex_register_backends(self, register: Callable[[Backend], None]) -> None:
            register(Backend(name=name, schemes=schemes, version="1.0", **extra))

        @hookimpl
        def dbplex_query(self, source: Any, conn: Any, op: Any) -> Any:
            return answer

    plugin = Plugin()
    plugin.__name__ = f"plugin_{name}"  # type: ignore[attr-defined]
    return plugin


def test_in_process_plugins_register_backends_and_bind_sources() -> None:
    loaded = plugins.load([backend_plugin("alpha", ("alpha", "alpha+tls"))], use_entry_points=False)
    assert loaded.load_errors == []
    assert loaded.backends["alpha"].schemes == ("alpha", "alpha+tls")
    source = loaded.source("main", SourceConfig(url="alpha+tls://h"))
    assert (source.name, source.backend) == ("main", "alpha")


def test_unknown_scheme_names_installed_backends_and_the_package_to_install() -> None:
    loaded = plugins.load([backend_plugin("alpha", ("alpha",))], use_entry_points=False)
    with pytest.raises(UnknownSchemeError) as info:
        loaded.source("docs", SourceConfig(url="mongodb://u:pw@h/db"))
    message = str(info.value)
    assert "source 'docs'" in message and "'mongodb://'" in message
    assert "installed backends: alpha (alpha)" in message
    assert message.endswith("; install it with: pip install dbplex-mongo") and "pw" not in message


def test_unknown_scheme_no_one_claims_names_no_package() -> None:
    loaded = plugins.load([backend_plugin("alpha", ("alpha", "alpha+tls"))], use_entry_points=False)
    with pytest.raises(UnknownSchemeError) as info:
        loaded.source("legacy", SourceConfig(url="mysql://h/db"))
    assert str(info.value) == (
        "source 'legacy': no installed backend handles 'mysql://'; installed backends: alpha (alpha, alpha+tls); "
        "no package known to dbplex claims it: install the dbplex plugin for that database"
    )


def test_a_backend_s_install_hint_names_the_package_it_declares() -> None:
    hinted = backend_plugin("alpha", ("alpha",), install_hints={"alphax": "dbplex-alphax"})
    loaded = plugins.load([hinted], use_entry_points=False)
    with pytest.raises(UnknownSchemeError, match=r"; install it with: pip install dbplex-alphax$"):
        loaded.source("x", SourceConfig(url="alphax://h"))


def test_own_packages_table_is_what_dbplex_s_installed_plugins_declare() -> None:
    """The table the hints come from matches the plugins it names, scheme for scheme."""
    loaded = plugins.load()
    declared: dict[str, set[str]] = {}
    for backend in loaded.backends.values():
        declared.setdefault(backend.package, set()).update(backend.schemes)
    for package, schemes in plugins.OWN_PACKAGES.items():
        assert declared.get(package) == set(schemes), package


def test_plugins_left_out_by_the_allow_list_are_named_for_an_unknown_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.ALLOW_ENV, "sqlite")
    loaded = plugins.load()
    with pytest.raises(UnknownSchemeError) as info:
        loaded.source("legacy", SourceConfig(url="mysql://h/db"))
    message = str(info.value)
    assert "installed backends: sqlite (sqlite); no package known to dbplex claims it" in message
    assert "not loaded (DBPLEX_PLUGINS, DBPLEX_DISABLE_PLUGINS): " in message and "pg (dbplex-pg)" in message
    with pytest.raises(UnknownSchemeError, match="dbplex-pg is installed but not loaded"):
        loaded.source("main", SourceConfig(url="postgresql://h/db"))


def test_hooks_are_bound_to_the_sources_own_backend() -> None:
    loaded = plugins.load(
        [
            backend_plugin("alpha", ("alpha",), answer="from alpha"),
            backend_plugin("beta", ("beta",), answer="from beta"),
        ],
        use_entry_points=False,
    )
    alpha, beta = loaded.source("a", SourceConfig(url="alpha://h")), loaded.source("b", SourceConfig(url="beta://h"))
    assert loaded.hooks_for("alpha").query(source=alpha, conn=None, op=None) == "from alpha"
    assert loaded.hooks_for("beta").query(source=beta, conn=None, op=None) == "from beta"


def test_cross_cutting_wrappers_stay_on_every_source() -> None:
    seen: list[str] = []

    class Tracing:
        @hookimpl(wrapper=True)
        def dbplex_query(self, source: Any, conn: Any, op: Any) -> Iterator[None]:
            result = yield
            seen.append(f"{source.name}:{result}")
            return result

    loaded = plugins.load(
        [backend_plugin("alpha", ("alpha",), answer="A"), backend_plugin("beta", ("beta",), answer="B"), Tracing()],
        use_entry_points=False,
    )
    loaded.hooks_for("alpha").query(source=SimpleNamespace(name="a"), conn=None, op=None)
    loaded.hooks_for("beta").query(source=SimpleNamespace(name="b"), conn=None, op=None)
    assert seen == ["a:A", "b:B"]


def test_a_plugin_that_fails_to_register_is_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        __name__ = "broken_plugin"

        @hookimpl
        def dbplex_register_backends(self, register: Callable[[Backend], None]) -> None:
            raise RuntimeError("driver too old")

    monkeypatch.delenv(plugins.STRICT_ENV, raising=False)
    loaded = plugins.load([Broken(), backend_plugin("alpha", ("alpha",))], use_entry_points=False)
    assert list(loaded.backends) == ["alpha"]
    (error,) = loaded.load_errors
    assert error.name == "broken_plugin" and error.error == "RuntimeError: driver too old"

    monkeypatch.setenv(plugins.STRICT_ENV, "1")
    with pytest.raises(RuntimeError, match="driver too old"):
        plugins.load([Broken()], use_entry_points=False)


def test_a_hook_with_a_typo_is_reported_by_check_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    class Typo:
        __name__ = "typo_plugin"

        @hookimpl
        def dbplex_qeury(self, source: Any) -> None:
            return None

    monkeypatch.delenv(plugins.STRICT_ENV, raising=False)
    loaded = plugins.load([Typo(), backend_plugin("alpha", ("alpha",))], use_entry_points=False)
    assert [e.name for e in loaded.load_errors] == ["typo_plugin"]
    assert "dbplex_qeury" in loaded.load_errors[0].error
    assert list(loaded.backends) == ["alpha"]


def test_unknown_capability_is_a_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(plugins.STRICT_ENV, raising=False)
    loaded = plugins.load(
        [backend_plugin("alpha", ("alpha",), capabilities=frozenset({"teleport"}))], use_entry_points=False
    )
    assert loaded.backends == {}
    assert "unknown capabilities ['teleport']" in loaded.load_errors[0].error


def test_two_plugins_claiming_one_scheme_is_an_error_naming_both() -> None:
    with pytest.raises(
        PluginError,
        match="'shared://' is claimed by two plugins: plugin_alpha .* and plugin_beta .*DBPLEX_DISABLE_PLUGINS",
    ):
        plugins.load(
            [backend_plugin("alpha", ("shared",)), backend_plugin("beta", ("shared",))], use_entry_points=False
        )


class Options(msgspec.Struct, forbid_unknown_fields=True):
    prefix: str = ""


def test_backend_options_are_validated_with_their_path() -> None:
    loaded = plugins.load([backend_plugin("alpha", ("alpha",), options=Options)], use_entry_points=False)
    assert loaded.source("c", SourceConfig(url="alpha://h", options={"prefix": "p:"})).options == Options("p:")
    with pytest.raises(ConfigError, match=r"Expected `str`, got `int` - at `sources\.c\.options\.prefix`"):
        loaded.source("c", SourceConfig(url="alpha://h", options={"prefix": 1}))
    with pytest.raises(ConfigError, match="takes no options"):
        plugins.load([backend_plugin("beta", ("beta",))], use_entry_points=False).source(
            "c", SourceConfig(url="beta://h", options={"x": 1})
        )


# -- entry points, through real distributions on sys.path ---------------------------------------


def write_distribution(directory: Path, name: str, module_source: str, attribute: str = "") -> None:
    """A throwaway distribution ``dbplex-fake-NAME`` in ``directory``: module ``dbplex_fake_NAME`` and
    entry point ``fake_NAME`` naming the module (or its ``attribute``)."""
    module = f"dbplex_fake_{name}"
    (directory / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = directory / f"dbplex_fake_{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dbplex-fake-{name}\nVersion: 1.2.3\n")
    target = f"{module}:{attribute}" if attribute else module
    (info / "entry_points.txt").write_text(f"[dbplex]\nfake_{name} = {target}\n")


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Install throwaway distributions (see :func:`write_distribution`) on this process's path."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(name: str, module_source: str, attribute: str = "") -> None:
        write_distribution(tmp_path, name, module_source, attribute)
        sys.modules.pop(f"dbplex_fake_{name}", None)

    return install


GOOD_PLUGIN = """
    from dbplex import Backend, hookimpl

    @hookimpl
    def dbplex_register_backends(register):
        register(Backend(name="fake_good", schemes=("fakegood",), version="1.2.3"))
"""


def test_entry_point_plugins_load_and_broken_ones_are_skipped(
    installed: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(plugins.STRICT_ENV, raising=False)
    installed("good", GOOD_PLUGIN)
    installed("bad", "import a_driver_that_is_not_installed\n")
    loaded = plugins.load()
    assert loaded.backends["fake_good"].package == "dbplex-fake-good"
    errors = {e.name: e for e in loaded.load_errors}
    assert errors["fake_bad"].package == "dbplex-fake-bad"
    assert "No module named 'a_driver_that_is_not_installed'" in errors["fake_bad"].error
    described = {p["name"]: p for p in loaded.describe()}
    assert described["fake_good"]["package"] == "dbplex-fake-good"
    assert described["fake_good"]["version"] == "1.2.3"
    assert described["fake_good"]["hooks"] == ["dbplex_register_backends"]


def test_an_entry_point_plugin_with_a_bad_target_is_a_load_error_of_its_distribution(
    installed: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(plugins.STRICT_ENV, raising=False)
    installed("good", GOOD_PLUGIN)
    installed(
        "typo",
        """
        from dbplex import Backend
        from dbplex.backend_plugin import backend_plugin

        plugin = backend_plugin(Backend(name="fake_typo", schemes=("faketypo",)), query="dbplex_fake_typo:runn")
        """,
        attribute="plugin",
    )
    loaded = plugins.load()
    assert "fake_typo" in loaded.backends and loaded.load_errors == []  # loading imports no target
    loaded.resolve()
    errors = {e.name: e for e in loaded.load_errors}
    assert list(errors) == ["fake_typo"] and errors["fake_typo"].package == "dbplex-fake-typo"
    assert errors["fake_typo"].error == (
        "PluginError: dbplex-fake-typo: hook 'query', target 'dbplex_fake_typo:runn': "
        "module 'dbplex_fake_typo' has no attribute 'runn'"
    )
    assert "fake_typo" not in loaded.backends and "fake_good" in loaded.backends


def test_allow_and_block_lists_choose_entry_points(
    installed: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    installed("good", GOOD_PLUGIN)
    installed("bad", "raise ImportError('never loaded')\n")
    monkeypatch.setenv(plugins.ALLOW_ENV, "fake_good")
    assert "fake_good" in plugins.load().backends
    assert all(e.name != "fake_bad" for e in plugins.load().load_errors)
    monkeypatch.delenv(plugins.ALLOW_ENV)
    monkeypatch.setenv(plugins.BLOCK_ENV, "fake_good,fake_bad")
    loaded = plugins.load()
    assert "fake_good" not in loaded.backends and all(not e.name.startswith("fake_") for e in loaded.load_errors)


def test_open_uses_given_plugins_and_fails_early_on_unknown_scheme() -> None:
    loaded = plugins.load([backend_plugin("alpha", ("alpha",))], use_entry_points=False)
    with dbplex.open({"sources": {"a": {"url": "alpha://h"}}}, plugins=loaded) as hub:
        assert hub.backend("a").name == "alpha"
        with pytest.raises(ConfigError, match="unknown source 'nope' \\(configured: a\\)"):
            hub.backend("nope")
    with pytest.raises(UnknownSchemeError):
        dbplex.open({"sources": {"a": {"url": "gamma://h"}}}, plugins=loaded)
