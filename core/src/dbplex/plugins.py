"""The guarded plugin loader.

Plugins are found through the entry-point group ``dbplex`` and loaded on first need, so
``dbplex --help`` imports no driver. A plugin that fails to import, to register or to validate
is recorded in :attr:`Plugins.load_errors` and skipped; ``DBPLEX_STRICT_PLUGINS=1`` re-raises
instead. A plugin built by :func:`~dbplex.backend_plugin.backend_plugin` has its targets
resolved and checked when its backend is first used (:meth:`Plugins.resolve`): that imports the
driver, so an application imports only the drivers of the backends it configures.
``DBPLEX_PLUGINS`` (allow list) and ``DBPLEX_DISABLE_PLUGINS`` (block list) take
comma-separated entry-point names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
import pluggy

from dbplex import hookspecs
from dbplex.backend_plugin import BackendHooks
from dbplex.backends import Backend, Source
from dbplex.binding import AsyncBound, BoundBackend
from dbplex.config import SourceConfig, field_path
from dbplex.errors import ConfigError, PluginError, UnknownSchemeError
from dbplex.logs import quiet_until_configured

GROUP = "dbplex"
STRICT_ENV = "DBPLEX_STRICT_PLUGINS"
ALLOW_ENV = "DBPLEX_PLUGINS"
BLOCK_ENV = "DBPLEX_DISABLE_PLUGINS"

#: dbplex's own plugin distributions and the URL schemes their backends claim: the only packages
#: an unknown scheme's message names without a plugin having said so (tests/core/test_plugins.py
#: checks this table against what the installed plugins declare, so it cannot drift).
OWN_PACKAGES: dict[str, tuple[str, ...]] = {
    "dbplex-pg": ("postgresql", "postgres"),
    "dbplex-mongo": ("mongodb", "mongodb+srv"),
    "dbplex-redis": ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"),
}


class LoadError(msgspec.Struct, frozen=True):
    """A plugin that was skipped, and why."""

    name: str
    package: str
    error: str


@dataclass
class Plugins:
    """A loaded plugin manager with the backends its plugins declared."""

    manager: pluggy.PluginManager
    backends: dict[str, Backend] = field(default_factory=dict)
    load_errors: list[LoadError] = field(default_factory=list)
    _scheme_owner: dict[str, Backend] = field(default_factory=dict)
    _backend_plugin: dict[str, object] = field(default_factory=dict)
    #: plugin name -> (distribution, version) for plugins that came from entry points.
    _dists: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: URL scheme -> package, for the schemes of plugins dropped by :meth:`resolve`.
    _dropped_schemes: dict[str, str] = field(default_factory=dict)
    #: entry-point name -> distribution, for the plugins the allow or block list left out.
    _skipped: dict[str, str] = field(default_factory=dict)

    def _guarded(self, name: str, package: str, action: Callable[..., object]) -> bool:
        """Run one loading step of a plugin; a failure is a load error (or raised, when strict)."""
        try:
            action()
        except Exception as exc:
            if _strict():
                raise
            self.load_errors.append(LoadError(name=name, package=package, error=f"{type(exc).__name__}: {exc}"))
            return False
        return True

    def resolve(self, backend_names: Iterable[str] | None = None) -> None:
        """Import and check the declared targets of these backends' plugins (default: all).

        A plugin whose targets do not resolve is a load error: it is unregistered with its
        backends, as if it had failed to load. Resolving twice costs nothing.
        """
        names = list(self._backend_plugin) if backend_names is None else list(backend_names)
        for plugin in dict.fromkeys(self._backend_plugin[n] for n in names if n in self._backend_plugin):
            if isinstance(plugin, BackendHooks):
                name = self.manager.get_name(plugin) or plugin.__name__
                package = self._dists.get(name, (name,))[0]

                def check(plugin: BackendHooks = plugin, package: str = package) -> None:
                    try:
                        plugin.resolve_targets()
                    except PluginError as exc:
                        raise PluginError(f"{package}: {exc}") from None

                if not self._guarded(name, package, check):
                    self._drop(plugin, package)

    def _drop(self, plugin: object, package: str) -> None:
        self.manager.unregister(plugin)
        for backend_name in [b for b, p in self._backend_plugin.items() if p is plugin]:
            backend = self.backends.pop(backend_name)
            del self._backend_plugin[backend_name]
            for scheme in backend.schemes:
                if self._scheme_owner.get(scheme) is backend:
                    del self._scheme_owner[scheme]
                    self._dropped_schemes[scheme] = package

    def backend_for(self, name: str, config: SourceConfig) -> Backend:
        """The backend for a source's URL scheme, or an error that says what to install.

        The backend's plugin is resolved first (:meth:`resolve`), so a broken target stops the
        source here, with the load error, rather than at its first operation.
        """
        scheme = config.scheme
        backend = self._scheme_owner.get(scheme)
        if backend is not None:
            self.resolve([backend.name])
            if scheme in self._scheme_owner:
                return backend
        installed = ", ".join(f"{b.name} ({', '.join(b.schemes)})" for b in self.backends.values()) or "none"
        shown = f"'{scheme}://'" if scheme else "no scheme (expected e.g. postgresql://)"
        raise UnknownSchemeError(
            f"source {name!r}: no installed backend handles {shown}; installed backends: {installed}; "
            f"{self._install_hint(scheme)}"
        )

    def _install_hint(self, scheme: str) -> str:
        """What to do about a scheme no backend claims, naming a package only where it is known:
        a plugin that failed or was left out, dbplex's own plugins, a loaded backend's hints."""
        package = self._dropped_schemes.get(scheme) or _known_package(scheme, self.backends.values())
        left_out = ", ".join(f"{ep} ({dist})" for ep, dist in self._skipped.items())
        if package is None:
            hint = "no package known to dbplex claims it: install the dbplex plugin for that database"
            return f"{hint}; not loaded ({ALLOW_ENV}, {BLOCK_ENV}): {left_out}" if left_out else hint
        failed = [e for e in self.load_errors if e.package == package]
        if failed:
            return f"{package} is installed but failed to load: {failed[0].error}"
        skipped = [ep for ep, dist in self._skipped.items() if dist == package]
        if skipped:
            return f"{package} is installed but not loaded: {ALLOW_ENV} or {BLOCK_ENV} leaves out {', '.join(skipped)}"
        return f"install it with: pip install {package}"

    def source(self, name: str, config: SourceConfig) -> Source:
        """Bind a configured source to its backend, validating the backend's options."""
        backend = self.backend_for(name, config)
        options: Any = dict(config.options)
        if backend.options is not None:
            try:
                options = msgspec.convert(config.options, backend.options)
            except msgspec.ValidationError as exc:
                raise ConfigError(f"source {name!r}: {field_path(exc, f'sources.{name}.options')}") from None
        elif config.options:
            raise ConfigError(
                f"source {name!r}: backend {backend.name!r} takes no options, got {sorted(config.options)}"
            )
        return Source(name=name, backend=backend.name, config=config, options=options)

    def hooks_for(self, backend_name: str) -> BoundBackend:
        """The backend's hooks bound once: callers that skip every other backend's plugin but keep
        cross-cutting ones (wrappers), typed (:class:`~dbplex.binding.BoundBackend`)."""
        own = self._backend_plugin[backend_name]
        others = [p for name, p in self._backend_plugin.items() if p is not own and name != backend_name]

        def bound(hook: str) -> Any:
            caller = self.manager.subset_hook_caller(hook, others) if others else getattr(self.manager.hook, hook)
            return _direct(caller, own)

        aio = None
        if self.has_async(own):
            aio = AsyncBound(
                connect=bound("dbplex_async_connect"),
                pool=bound("dbplex_async_pool"),
                query=bound("dbplex_async_query"),
                health=bound("dbplex_async_health"),
                bench_baseline=bound("dbplex_async_bench_baseline"),
                partition=bound("dbplex_async_partition"),
                watch=bound("dbplex_async_watch"),
            )
        return BoundBackend(
            self.backends[backend_name],
            aio=aio,
            connect=bound("dbplex_connect"),
            pool=bound("dbplex_pool"),
            query=bound("dbplex_query"),
            health=bound("dbplex_health"),
            migrate=bound("dbplex_migrate"),
            partition=bound("dbplex_partition"),
            analyze=bound("dbplex_analyze"),
            check=bound("dbplex_check"),
            describe=bound("dbplex_describe"),
            watch=bound("dbplex_watch"),
            bench_baseline=bound("dbplex_bench_baseline"),
            slowlog=bound("dbplex_slowlog"),
        )

    def has_async(self, plugin: object) -> bool:
        """Whether ``plugin`` runs ops under asyncio (implements ``dbplex_async_query``)."""
        return any(h.name == "dbplex_async_query" for h in self.manager.get_hookcallers(plugin) or [])

    def describe(self) -> list[dict[str, Any]]:
        """Name, package, version, hooks, schemes and capabilities of every loaded plugin."""
        described = []
        for name, plugin in self.manager.list_name_plugin():
            backends = [b for b, p in self._backend_plugin.items() if p is plugin]
            hooks = sorted(h.name for h in self.manager.get_hookcallers(plugin) or [])
            dist = self._dists.get(name)
            described.append(
                {
                    "name": name,
                    "package": dist[0] if dist else getattr(plugin, "__name__", name),
                    "version": dist[1] if dist else None,
                    "hooks": hooks,
                    "backends": [
                        {
                            "name": self.backends[b].name,
                            "schemes": list(self.backends[b].schemes),
                            "capabilities": sorted(self.backends[b].capabilities),
                            "version": self.backends[b].version,
                            "ops": sorted(_tag(t) for t in self.backends[b].ops),
                            "modes": ["sync", "async"] if self.has_async(plugin) else ["sync"],
                        }
                        for b in backends
                    ],
                }
            )
        return described


def _direct(caller: Any, own: object = None) -> Any:
    """The implementation itself when it is the only one, called through its wrappers if any.

    Calling it then means what pluggy's call would (one firstresult implementation inside its
    ``wrapper=True`` wrappers, the last registered outermost), without pluggy's per-call work —
    about 1.8 µs with nothing to wrap, about 20 µs through a subset caller with a wrapper, a
    large share of a Redis round trip. Implementations that take fewer arguments than the spec,
    several plain implementations and old-style ``hookwrapper=True`` ones keep pluggy. A wrapper
    plugin may also offer ``compose_<hook>(inner)``, returning ``inner`` wrapped in a plain
    closure that does what its wrapper does: that is used instead of driving the generator
    (about 1 µs a call here). When the one implementation is that of ``own``, a
    :func:`~dbplex.backend_plugin.backend_plugin` whose sources are the only ones the caller is
    given, its target is called without the implementation around it (:meth:`BackendHooks.direct`).
    """
    impls = caller.get_hookimpls()
    spec = caller.spec
    plain = [i for i in impls if not (i.wrapper or i.hookwrapper)]
    wrappers = [i for i in impls if i.wrapper]
    if spec is None or len(plain) != 1 or len(plain) + len(wrappers) != len(impls):
        return caller
    if tuple(plain[0].argnames) != tuple(spec.argnames):
        return caller
    call = plain[0].function
    if plain[0].plugin is own and isinstance(own, BackendHooks):
        call = own.direct(caller.name.removeprefix("dbplex_")) or call
    for wrapper in wrappers:  # pluggy's order: innermost first
        compose = getattr(wrapper.plugin, f"compose_{caller.name}", None)
        if compose is not None:  # the wrapper's own closure, without a generator per call
            call = compose(call)
        else:
            call = _wrapped(wrapper.function, tuple(wrapper.argnames), call, tuple(spec.argnames))
    return call


def _wrapped(
    wrapper: Callable[..., Any], argnames: tuple[str, ...], inner: Callable[..., Any], spec: tuple[str, ...]
) -> Callable[..., Any]:
    """``inner`` called inside a ``wrapper=True`` generator, as pluggy drives one: the generator
    gets the result sent in (or the exception thrown in) and returns what the call returns."""
    every = argnames == spec  # then the arguments pass as they came

    def call(**kwargs: Any) -> Any:
        gen = wrapper(**kwargs) if every else wrapper(**{name: kwargs[name] for name in argnames})
        next(gen)
        try:
            result = inner(**kwargs)
        except BaseException as exc:
            try:
                gen.throw(exc)
            except StopIteration as stop:
                return stop.value
            raise RuntimeError(f"hook wrapper {wrapper.__qualname__} did not stop after the exception") from exc
        try:
            gen.send(result)
        except StopIteration as stop:
            return stop.value
        raise RuntimeError(f"hook wrapper {wrapper.__qualname__} yielded twice")

    return call


def _tag(op_type: type) -> str:
    return str(msgspec.inspect.type_info(op_type).tag)  # type: ignore[attr-defined]


def _known_package(scheme: str, backends: Iterable[Backend]) -> str | None:
    """The distribution dbplex knows to provide ``scheme``: its own, or one a backend names."""
    for package, schemes in OWN_PACKAGES.items():
        if scheme in schemes:
            return package
    return next((b.install_hints[scheme] for b in backends if scheme in b.install_hints), None)


def _names(env: str) -> set[str] | None:
    raw = os.environ.get(env)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0", "false", "no")


def load(extra: Iterable[object] = (), *, use_entry_points: bool = True) -> Plugins:
    """Load plugins from entry points (unless disabled) plus ``extra`` in-process plugins.

    ``extra`` is how tests and applications register a plugin module or object without
    packaging it.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager=manager)
    allow, block = _names(ALLOW_ENV), _names(BLOCK_ENV) or set()
    if use_entry_points:
        from importlib.metadata import entry_points  # costs ~40 ms: only when plugins load

        for ep in entry_points(group=GROUP):
            package = ep.dist.name if ep.dist else ep.value
            if (allow is not None and ep.name not in allow) or ep.name in block:
                plugins._skipped[ep.name] = package
                continue

            def register_entry_point(ep: Any = ep) -> None:
                manager.register(ep.load(), name=ep.name)
                if ep.dist is not None:
                    plugins._dists[ep.name] = (ep.dist.name, ep.dist.version)

            plugins._guarded(ep.name, package, register_entry_point)
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        plugins._guarded(name, name, lambda plugin=plugin, name=name: manager.register(plugin, name=name))

    _drop_invalid(plugins)
    _collect_backends(plugins)
    return plugins


def _drop_invalid(plugins: Plugins) -> None:
    """Unregister each plugin that implements a hook with no spec (a typo), via check_pending."""
    manager = plugins.manager
    while True:
        try:
            manager.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = manager.get_name(exc.plugin) or str(exc.plugin)
            manager.unregister(exc.plugin)

            def reraise(exc: Exception = exc) -> None:
                raise exc

            plugins._guarded(name, plugins._dists.get(name, (name,))[0], reraise)


def _collect_backends(plugins: Plugins) -> None:
    manager = plugins.manager
    for impl in manager.hook.dbplex_register_backends.get_hookimpls():
        declared: list[Backend] = []
        name = manager.get_name(impl.plugin) or str(impl.plugin)
        package = plugins._dists.get(name, (name,))[0]
        plugins._guarded(name, package, lambda impl=impl, declared=declared: impl.function(register=declared.append))
        for backend in declared:
            backend = replace(backend, package=package)
            for scheme in backend.schemes:
                owner = plugins._scheme_owner.get(scheme)
                if owner is not None and owner.package != package:
                    raise PluginError(
                        f"URL scheme '{scheme}://' is claimed by two plugins: {owner.package} (backend {owner.name!r}) "
                        f"and {package} (backend {backend.name!r}); uninstall one or disable it with {BLOCK_ENV}=<name>"
                    )
                plugins._scheme_owner[scheme] = backend
            for logger in backend.loggers:
                quiet_until_configured(logger)
            plugins.backends[backend.name] = backend
            plugins._backend_plugin[backend.name] = impl.plugin


_default: Plugins | None = None


def default() -> Plugins:
    """The process-wide plugins, loaded from entry points on first call."""
    global _default
    if _default is None:
        _default = load()
    return _default
