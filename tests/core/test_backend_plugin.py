"""backend_plugin: a backend's hooks declared from dotted paths."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dbplex import Backend, plugins
from dbplex.backend_plugin import backend_plugin
from dbplex.config import SourceConfig


def test_hooks_answer_only_for_the_backends_own_sources_and_import_lazily() -> None:
    plugin = backend_plugin(Backend(name="alpha", schemes=("alpha",)), query="builtins:slice", health="builtins:min")
    loaded = plugins.load([plugin], use_entry_points=False)
    own = loaded.source("a", SourceConfig(url="alpha://h"))
    hooks = loaded.hooks_for("alpha")
    assert hooks.query(source=own, conn=1, op=3) == slice(own, 1, 3)  # the target gets the hook's arguments in order
    other = SimpleNamespace(backend="beta")
    assert plugin.dbplex_query(other, 1, 2) is None


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
