"""Declare a backend's hooks instead of writing them.

Every backend's hooks look the same: answer only for the backend's own sources, and import the
driver-bound code only when the backend is used, so that loading the plugin imports no driver.
:func:`backend_plugin` builds that plugin object from the ``Backend`` and ``"module:attribute"``
paths::

    plugin = backend_plugin(
        Backend(name="pg", schemes=("postgresql",), ...),
        connect="dbplex_pg.connector:PgConnector",
        query="dbplex_pg.execute:run",
        health="dbplex_pg.health:check",
    )

and the entry point names the object: ``pg = "dbplex_pg.plugin:plugin"``. Only the hooks given
are implemented, so ``dbplex plugins`` lists exactly what the backend does; ``connect=`` (a
:class:`~dbplex.pooling.Connector`) brings ``dbplex_pool`` with it, answered by dbplex's own
pool. A backend whose driver pools internally declares ``pool=`` (taking the source) instead.

The loader calls :meth:`BackendHooks.resolve_targets` before the backend's first use: every
target is imported and checked against the arguments its hook passes, so a typo is a load error
of the plugin rather than a traceback at the first operation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from dbplex import hookspecs
from dbplex.backends import Backend, Source
from dbplex.errors import PluginError
from dbplex.hookspecs import hookimpl
from dbplex.pooling.connector import AsyncConnector, Connector
from dbplex.pooling.pool import ConnectorPool

if TYPE_CHECKING:
    from dbplex.pooling.async_pool import AsyncConnectorPool

HOOKS = (
    "connect",
    "pool",
    "query",
    "health",
    "migrate",
    "partition",
    "analyze",
    "check",
    "describe",
    "watch",
    "bench_baseline",
    "slowlog",
    "async_connect",
    "async_pool",
    "async_query",
    "async_health",
    "async_bench_baseline",
    "async_partition",
    "async_watch",
)

#: each hook specification's parameters.
SPEC_ARGUMENTS = {hook: tuple(inspect.signature(getattr(hookspecs, f"dbplex_{hook}")).parameters) for hook in HOOKS}
#: the arguments each hook passes to its target, in order: the hook specification's parameters,
#: but for ``pool``: a backend that declares a pool of its own has no connector to receive.
HOOK_ARGUMENTS = {**SPEC_ARGUMENTS, "pool": ("source",), "async_pool": ("source",)}


class _Target:
    """One hook's ``module:attribute`` target; :attr:`call` is the target itself once resolved."""

    __slots__ = ("by_name", "call", "hook", "path", "resolved")

    def __init__(self, hook: str, path: str) -> None:
        module, sep, attribute = path.partition(":")
        if not sep or not module or not attribute:
            raise ValueError(f"{hook}={path!r}: expected 'module:attribute'")
        self.hook = hook
        self.path = path
        self.resolved = False
        #: whether the resolved target takes the hook's arguments by their spec names too (see
        #: :meth:`BackendHooks.direct`).
        self.by_name = False
        #: before resolution (a hook called without the loader, as in a unit test), resolve on first call.
        self.call: Callable[..., Any] = self._resolve_and_call

    def _resolve_and_call(self, *args: Any) -> Any:
        self.call = self.found()
        self.resolved = True
        return self.call(*args)

    def found(self) -> Callable[..., Any]:
        """The imported target, checked to take the hook's arguments (and :attr:`by_name` set); a
        PluginError says what is wrong."""
        module_name, _, attribute = self.path.partition(":")
        where = f"hook {self.hook!r}, target {self.path!r}"
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
                raise PluginError(f"{where}: no module named {exc.name!r}") from None
            raise PluginError(f"{where}: importing {module_name!r} failed: {exc}") from None
        except Exception as exc:
            raise PluginError(f"{where}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
        try:
            attr: object = getattr(module, attribute)
        except AttributeError:
            raise PluginError(f"{where}: module {module_name!r} has no attribute {attribute!r}") from None
        if not callable(attr):
            raise PluginError(f"{where}: not callable (a value of type {type(attr).__name__})")
        target: Callable[..., Any] = attr
        expected = HOOK_ARGUMENTS[self.hook]
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):  # some built-ins publish no signature: nothing to check
            return target
        try:
            signature.bind(*expected)
        except TypeError as exc:
            raise PluginError(
                f"{where}: its parameters {signature} do not take the hook's arguments ({', '.join(expected)}): {exc}"
            ) from None
        named = tuple(signature.parameters)[: len(expected)]
        self.by_name = named == expected == SPEC_ARGUMENTS[self.hook] and _binds_by_name(signature, expected)
        return target


def _binds_by_name(signature: inspect.Signature, names: tuple[str, ...]) -> bool:
    try:
        signature.bind(**dict.fromkeys(names))
    except TypeError:
        return False
    return True


def _hooks(name: str, target: _Target) -> dict[str, Callable[..., Any]]:
    """Each hook's implementation for one target; the parameter names are the specs' own."""
    return {
        "connect": lambda source: target.call(source) if source.backend == name else None,
        "pool": lambda source, connector: target.call(source) if source.backend == name else None,
        "query": lambda source, conn, op: target.call(source, conn, op) if source.backend == name else None,
        "health": lambda source, pool: target.call(source, pool) if source.backend == name else None,
        "migrate": lambda source, pool, admin: target.call(source, pool, admin) if source.backend == name else None,
        "partition": lambda source, pool, admin: target.call(source, pool, admin) if source.backend == name else None,
        "analyze": lambda source, pool, admin: target.call(source, pool, admin) if source.backend == name else None,
        "check": lambda source, pool, admin: target.call(source, pool, admin) if source.backend == name else None,
        "describe": lambda source, pool, admin: target.call(source, pool, admin) if source.backend == name else None,
        "watch": lambda source, pool, admin: target.call(source, pool, admin) if source.backend == name else None,
        "bench_baseline": lambda source, pool_size: target.call(source, pool_size) if source.backend == name else None,
        "slowlog": lambda source, pool, admin: target.call(source, pool, admin) if source.backend == name else None,
        "async_connect": lambda source: target.call(source) if source.backend == name else None,
        "async_pool": lambda source, connector: target.call(source) if source.backend == name else None,
        "async_query": lambda source, conn, op: target.call(source, conn, op) if source.backend == name else None,
        "async_health": lambda source, pool: target.call(source, pool) if source.backend == name else None,
        "async_bench_baseline": lambda source, pool_size: (
            target.call(source, pool_size) if source.backend == name else None
        ),
        "async_partition": lambda source: target.call(source) if source.backend == name else None,
        "async_watch": lambda source: target.call(source) if source.backend == name else None,
    }


def _core_pool(name: str) -> Callable[..., Any]:
    """The ``dbplex_pool`` of a backend that declares a connector: dbplex's own pool over it."""

    def dbplex_pool(source: Source, connector: Connector[Any] | None) -> ConnectorPool[Any] | None:
        if source.backend != name or connector is None:
            return None
        return ConnectorPool(source, connector)

    return dbplex_pool


def _core_async_pool(name: str) -> Callable[..., Any]:
    """The ``dbplex_async_pool`` of a backend that declares an async connector: dbplex's asyncio pool over it."""

    def dbplex_async_pool(source: Source, connector: AsyncConnector[Any] | None) -> AsyncConnectorPool[Any] | None:
        if source.backend != name or connector is None:
            return None
        from dbplex.pooling.async_pool import AsyncConnectorPool  # asyncio: only for an async hub

        return AsyncConnectorPool(source, connector)

    return dbplex_async_pool


class BackendHooks:
    """The plugin object :func:`backend_plugin` returns: its attributes are the hook implementations.

    A plain class, so that instances hash by identity as pluggy needs.
    """

    def __init__(self, name: str, implementations: dict[str, Any], targets: list[_Target]) -> None:
        self.__name__ = name
        self._targets = targets
        for hook, implementation in implementations.items():
            setattr(self, hook, implementation)

    def resolve_targets(self) -> None:
        """Import every target and check its parameters, all before any is used.

        Raises one PluginError listing every bad target; then no target is switched, as the
        loader drops the plugin. Importing the targets imports the driver, hence not at load.
        """
        pending = [t for t in self._targets if not t.resolved]
        found: list[tuple[_Target, Callable[..., Any]]] = []
        problems: list[str] = []
        for target in pending:
            try:
                found.append((target, target.found()))
            except PluginError as exc:
                problems.append(str(exc))
        if problems:
            raise PluginError("; ".join(problems))
        for target, function in found:
            target.call = function
            target.resolved = True

    def direct(self, hook: str) -> Callable[..., Any] | None:
        """The resolved target of ``dbplex_<hook>`` itself, when it takes the hook's arguments by
        their names, else None.

        For a caller bound to this backend alone (``Plugins.hooks_for``), whose sources are all
        this backend's: it skips the implementation's call and its test of ``source.backend``
        (200-300 instructions a query by callgrind, 0.2% of a loopback point read).
        """
        for target in self._targets:
            if target.hook == hook and target.resolved and target.by_name:
                return target.call
        return None

    def __repr__(self) -> str:
        return f"<dbplex backend plugin {self.__name__}>"


def distribution_version(name: str) -> str:
    """The installed version of distribution ``name``, for ``Backend(version=...)``;
    ``0+unknown`` when it runs from a source tree without being installed."""
    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def backend_plugin(backend: Backend, **targets: str) -> BackendHooks:
    """A plugin object registering ``backend`` and implementing the hooks named in ``targets``.

    Each target is the ``"module:attribute"`` of a callable taking the hook's arguments
    positionally (``query``: ``(source, conn, op)``; ``health``: ``(source, pool)``;
    ``migrate``, ``partition``, ``analyze``, ``check``, ``watch`` and ``slowlog``: ``(source, pool, admin)``; ...); a class is checked through
    its constructor. The asyncio twins (``async_connect``, ``async_pool``, ``async_query``,
    ``async_health``, ``async_bench_baseline``) take the same arguments as their sync hooks; ``async_query`` and
    ``async_health`` targets are coroutine functions; ``async_partition`` and ``async_watch`` take ``(source)``.
    """
    unknown = set(targets) - set(HOOKS)
    if unknown:
        raise ValueError(f"unknown hooks {sorted(unknown)}; known: {', '.join(HOOKS)}")
    for connect, pool in (("connect", "pool"), ("async_connect", "async_pool")):
        if connect in targets and pool in targets:
            raise ValueError(
                f"{connect}= and {pool}= exclude each other: declare {connect}= (a connector; dbplex pools its "
                f"connections) or, when the driver pools internally, {pool}="
            )

    def dbplex_register_backends(register: Callable[[Backend], None]) -> None:
        register(backend)

    implementations: dict[str, Any] = {"dbplex_register_backends": hookimpl(dbplex_register_backends)}
    declared = [_Target(hook, path) for hook, path in targets.items()]
    for target in declared:
        implementations[f"dbplex_{target.hook}"] = hookimpl(_hooks(backend.name, target)[target.hook])
    if "connect" in targets:
        implementations["dbplex_pool"] = hookimpl(_core_pool(backend.name))
    if "async_connect" in targets:
        implementations["dbplex_async_pool"] = hookimpl(_core_async_pool(backend.name))
    return BackendHooks(f"dbplex-{backend.name}", implementations, declared)
