"""backend_plugin: a backend's hooks declared from dotted paths, each target checked before use."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

import dbplex
from dbplex import Backend, plugins
from dbplex.backend_plugin import backend_plugin
from dbplex.config import SourceConfig
from dbplex.errors import PluginError, UnknownSchemeError

#: a module of hook targets: ``run`` fits ``query``; the others are wrong for the hooks they are given.
TARGETS_SOURCE = textwrap.dedent(
    """
    def run(source, conn, op):
        return ("ran", source.name, conn, op)


    def swapped(conn, source, op):
        return ("swapped", conn, source, op)


    def check(source):
        return None


    class Pool:
        def __init__(self, source, size):
            self.size = size


    LIMIT = 3
    """
)

#: (hook, target with ``{module}`` for the targets module, what the load error says is wrong).
BAD_TARGETS = [
    pytest.param("query", "{module}_nosuch:run", "no module named '{module}_nosuch'", id="misspelled-module"),
    pytest.param("query", "{module}:runn", "module '{module}' has no attribute 'runn'", id="misspelled-attribute"),
    pytest.param("pool", "{module}:LIMIT", "not callable (a value of type int)", id="not-callable"),
    pytest.param(
        "health",
        "{module}:check",
        "its parameters (source) do not take the hook's arguments (source, pool): too many positional arguments",
        id="wrong-parameters",
    ),
    pytest.param(
        "pool",
        "{module}:Pool",
        "its parameters (source, size) do not take the hook's arguments (source): missing a required argument: 'size'",
        id="class-with-wrong-constructor",
    ),
]


@pytest.fixture
def targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of an importable module holding :data:`TARGETS_SOURCE`, freshly imported."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "dbplex_test_targets.py").write_text(TARGETS_SOURCE)
    sys.modules.pop("dbplex_test_targets", None)
    monkeypatch.delenv(plugins.STRICT_ENV, raising=False)
    return "dbplex_test_targets"


def test_hooks_answer_only_for_the_backends_own_sources_and_import_lazily() -> None:
    plugin = backend_plugin(Backend(name="alpha", schemes=("alpha",)), query="builtins:slice", health="builtins:min")
    loaded = plugins.load([plugin], use_entry_points=False)
    own = loaded.source("a", SourceConfig(url="alpha://h"))
    hooks = loaded.hooks_for("alpha")
    assert hooks.query(source=own, conn=1, op=3) == slice(own, 1, 3)  # the target gets the hook's arguments in order
    other = SimpleNamespace(backend="beta")
    assert plugin.dbplex_query(other, 1, 2) is None


def test_a_target_named_as_the_hook_is_called_directly_any_other_by_position(targets: str) -> None:
    named = backend_plugin(Backend(name="alpha", schemes=("alpha",)), query=f"{targets}:run")
    swapped = backend_plugin(Backend(name="beta", schemes=("beta",)), query=f"{targets}:swapped")
    loaded = plugins.load([named, swapped], use_entry_points=False)
    loaded.resolve()
    alpha, beta = loaded.source("a", SourceConfig(url="alpha://h")), loaded.source("b", SourceConfig(url="beta://h"))
    assert loaded.hooks_for("alpha").run is sys.modules[targets].run  # no implementation around it
    assert loaded.hooks_for("alpha").run(source=alpha, conn="c", op="o") == ("ran", "a", "c", "o")
    # parameters in another order: still given the hook's arguments in the hook's order
    assert loaded.hooks_for("beta").run(source=beta, conn="c", op="o") == ("swapped", beta, "c", "o")


def test_only_the_given_hooks_are_implemented() -> None:
    plugin = backend_plugin(Backend(name="alpha", schemes=("alpha",)), pool="builtins:len")
    loaded = plugins.load([plugin], use_entry_points=False)
    (described,) = loaded.describe()
    assert described["hooks"] == ["dbplex_pool", "dbplex_register_backends"]


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ValueError, match="expected 'module:attribute'"):
        backend_plugin(Backend(name="alpha", schemes=("alpha",)), pool="builtins.len")
    with pytest.raises(ValueError, match="unknown hooks \\['poool'\\]"):
        backend_plugin(Backend(name="alpha", schemes=("alpha",)), poool="builtins:len")


@pytest.mark.parametrize(("hook", "target", "fault"), BAD_TARGETS)
def test_a_bad_target_is_a_load_error_naming_package_hook_target_and_fault(
    targets: str, hook: str, target: str, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, fault = target.format(module=targets), fault.format(module=targets)
    good = backend_plugin(Backend(name="alpha", schemes=("alpha",)), query=f"{targets}:run")
    bad = backend_plugin(Backend(name="beta", schemes=("beta",)), **{hook: target})
    loaded = plugins.load([bad, good], use_entry_points=False)
    loaded.resolve()
    (error,) = loaded.load_errors
    assert (error.name, error.package) == ("dbplex-beta", "dbplex-beta")
    assert error.error == f"PluginError: dbplex-beta: hook {hook!r}, target {target!r}: {fault}"
    assert list(loaded.backends) == ["alpha"]
    assert [p["name"] for p in loaded.describe()] == ["dbplex-alpha"]  # unregistered, as if never loaded

    monkeypatch.setenv(plugins.STRICT_ENV, "1")
    with pytest.raises(PluginError, match=f"hook {hook!r}, target {target!r}"):
        plugins.load([bad], use_entry_points=False).resolve()


def test_every_bad_target_of_a_plugin_is_named_in_its_one_error(targets: str) -> None:
    bad = backend_plugin(
        Backend(name="beta", schemes=("beta",)), query=f"{targets}:runn", health=f"{targets}:check", pool="builtins:len"
    )
    loaded = plugins.load([bad], use_entry_points=False)
    loaded.resolve()
    (error,) = loaded.load_errors
    assert f"hook 'query', target '{targets}:runn'" in error.error
    assert f"hook 'health', target '{targets}:check'" in error.error


def test_opening_a_source_resolves_its_backend_only(targets: str) -> None:
    good = backend_plugin(Backend(name="alpha", schemes=("alpha",)), query=f"{targets}:run")
    bad = backend_plugin(Backend(name="beta", schemes=("beta",)), query=f"{targets}:runn")
    loaded = plugins.load([good, bad], use_entry_points=False)
    assert targets not in sys.modules  # loading the plugins imports no target
    with dbplex.open({"sources": {"a": {"url": "alpha://h"}}}, plugins=loaded) as hub:
        assert targets in sys.modules  # resolved when the source was bound, before its first op
        hooks = loaded.hooks_for("alpha")
        assert hooks.query(source=hub.sources["a"], conn="c", op="o") == ("ran", "a", "c", "o")
    assert loaded.load_errors == [] and "beta" in loaded.backends  # an unused backend is not resolved


def test_opening_a_source_of_a_broken_backend_says_why_in_one_line(
    targets: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = backend_plugin(Backend(name="beta", schemes=("beta",)), query=f"{targets}:runn")
    loaded = plugins.load([bad], use_entry_points=False)
    with pytest.raises(UnknownSchemeError) as raised:
        dbplex.open({"sources": {"b": {"url": "beta://h"}}}, plugins=loaded)
    assert str(raised.value) == (
        "source 'b': no installed backend handles 'beta://'; installed backends: none; dbplex-beta is installed "
        f"but failed to load: PluginError: dbplex-beta: hook 'query', target '{targets}:runn': "
        f"module '{targets}' has no attribute 'runn'"
    )
    monkeypatch.setenv(plugins.STRICT_ENV, "1")
    with pytest.raises(PluginError, match="has no attribute 'runn'"):
        dbplex.open({"sources": {"b": {"url": "beta://h"}}}, plugins=plugins.load([bad], use_entry_points=False))
