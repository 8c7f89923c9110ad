"""Declare a backend's hooks instead of writing them.

Every backend's hooks look the same: answer only for the backend's own sources, and import the
driver-bound code on first use so that loading the plugin imports no driver. :func:`backend_plugin`
builds that plugin object from the ``Backend`` and ``"module:attribute"`` paths::

    plugin = backend_plugin(
        Backend(name="pg", schemes=("postgresql",), ...),
        pool="dbplex_pg.pool:PgPool",
        query="dbplex_pg.execute:run",
        health="dbplex_pg.health:check",
    )

and the entry point names the object: ``pg = "dbplex_pg.plugin:plugin"``. Only the hooks given
are implemented, so ``dbplex plugins`` lists exactly what the backend does.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from dbplex.backends import Backend
from dbplex.hookspecs import hookimpl


class _Lazy:
    """A ``module:attribute`` path, imported on the first call and called directly afterwards."""

    __slots__ = ("_path", "_target")

    def __init__(self, path: str) -> None:
        module, sep, attribute = path.partition(":")
        if not sep or not module or not attribute:
            raise ValueError(f"{path!r}: expected 'module:attribute'")
        self._path = path
        self._target: Callable[..., Any] | None = None

    def __call__(self, *args: Any) -> Any:
        target = self._target
        if target is None:
            module, _, attribute = self._path.partition(":")
            target = self._target = getattr(import_module(module), attribute)
        return target(*args)


def _hooks(name: str, call: _Lazy) -> dict[str, Callable[..., Any]]:
    """Each hook's implementation for one target; the parameter names are the specs' own."""
    return {
        "connect": lambda source: call(source) if source.backend == name else None,
        "pool": lambda source: call(source) if source.backend == name else None,
        "query": lambda source, conn, op: call(source, conn, op) if source.backend == name else None,
        "health": lambda source, pool: call(source, pool) if source.backend == name else None,
        "migrate": lambda source: call(source) if source.backend == name else None,
        "partition": lambda source: call(source) if source.backend == name else None,
        "bench_baseline": lambda source, pool_size: call(source, pool_size) if source.backend == name else None,
    }


HOOKS = ("connect", "pool", "query", "health", "migrate", "partition", "bench_baseline")


class BackendHooks:
    """The plugin object :func:`backend_plugin` returns: its attributes are the hook implementations.

    A plain class, so that instances hash by identity as pluggy needs.
    """

    def __init__(self, name: str, implementations: dict[str, Any]) -> None:
        self.__name__ = name
        for hook, implementation in implementations.items():
            setattr(self, hook, implementation)

    def __repr__(self) -> str:
        return f"<dbplex backend plugin {self.__name__}>"


def backend_plugin(backend: Backend, **targets: str) -> BackendHooks:
    """A plugin object registering ``backend`` and implementing the hooks named in ``targets``.

    Each target is the ``"module:attribute"`` of a callable taking the hook's arguments
    positionally (``query``: ``(source, conn, op)``; ``health``: ``(source, pool)``; ...).
    """
    unknown = set(targets) - set(HOOKS)
    if unknown:
        raise ValueError(f"unknown hooks {sorted(unknown)}; known: {', '.join(HOOKS)}")

    def dbplex_register_backends(register: Callable[[Backend], None]) -> None:
        register(backend)

    implementations: dict[str, Any] = {"dbplex_register_backends": hookimpl(dbplex_register_backends)}
    for hook, path in targets.items():
        implementations[f"dbplex_{hook}"] = hookimpl(_hooks(backend.name, _Lazy(path))[hook])
    return BackendHooks(f"dbplex-{backend.name}", implementations)
