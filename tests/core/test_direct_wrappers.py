"""The bound hook calls a backend implementation inside its wrappers as pluggy would: result
sent in, exceptions thrown in, the last registered wrapper outermost, a wrapper's own
``compose_<hook>`` closure used when it has one."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pluggy
import pytest

from dbplex import hookimpl, hookspecs
from dbplex.plugins import _direct


class Backend:
    def __init__(self) -> None:
        self.fail = False

    @hookimpl
    def dbplex_query(self, source: Any, conn: Any, op: Any) -> Any:
        if self.fail:
            raise ValueError("boom")
        return [op]


class Append:
    """Appends its tag to the result; turns a ValueError into a result when ``swallow``."""

    def __init__(self, tag: str, swallow: bool = False) -> None:
        self.tag, self.swallow = tag, swallow

    @hookimpl(wrapper=True)
    def dbplex_query(self, op: Any) -> Generator[None, Any, Any]:
        try:
            result = yield
        except ValueError:
            if not self.swallow:
                raise
            return [f"swallowed by {self.tag}"]
        return [*result, self.tag]


class Composed(Append):
    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.composed = 0

    def compose_dbplex_query(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def call(**kwargs: Any) -> Any:
            self.composed += 1
            return [*inner(**kwargs), self.tag]

        return call


def manager(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def test_wrappers_compose_in_pluggys_order() -> None:
    pm = manager(Backend(), Append("inner"), Append("outer"))
    bound = _direct(pm.hook.dbplex_query)
    assert bound is not pm.hook.dbplex_query
    expected = pm.hook.dbplex_query(source=None, conn=None, op="get")
    assert bound(source=None, conn=None, op="get") == expected == ["get", "inner", "outer"]


def test_exceptions_reach_the_wrappers_as_in_pluggy() -> None:
    backend = Backend()
    backend.fail = True
    pm = manager(backend, Append("a"), Append("b", swallow=True))
    bound = _direct(pm.hook.dbplex_query)
    assert bound(source=None, conn=None, op="x") == pm.hook.dbplex_query(source=None, conn=None, op="x")
    assert bound(source=None, conn=None, op="x") == ["swallowed by b"]
    pm = manager(backend, Append("a"))
    with pytest.raises(ValueError, match="boom"):
        _direct(pm.hook.dbplex_query)(source=None, conn=None, op="x")


def test_a_wrappers_own_closure_is_used() -> None:
    composed = Composed("c")
    pm = manager(Backend(), composed)
    assert _direct(pm.hook.dbplex_query)(source=None, conn=None, op="get") == ["get", "c"]
    assert composed.composed == 1


def test_old_style_hookwrappers_keep_pluggy() -> None:
    class Old:
        @hookimpl(hookwrapper=True)
        def dbplex_query(self) -> Generator[None, Any, None]:
            yield

    pm = manager(Backend(), Old())
    assert _direct(pm.hook.dbplex_query) is pm.hook.dbplex_query
