"""The one list of what a backend can be certified for, and what a backend declares of it.

A backend declares two kinds of capability:

- **flags** in :attr:`Backend.capabilities <dbplex.backends.Backend.capabilities>`, from
  :data:`dbplex.backends.CAPABILITIES` (``transactions``, ``ttl``, ...);
- **optional hooks** its plugin implements, named here by :data:`HOOK_CAPABILITIES`
  (``migrate``, ``partition``, ``bench_baseline``, ``check``, ``describe``, ``watch``).

The conformance suite tests every declared one and fails when it does not work; an undeclared
one is skipped with a reason. docs/plugins.md says what each requires.
"""

from __future__ import annotations

from dbplex.backends import CAPABILITIES
from dbplex.hub import Hub

#: optional hooks that count as capabilities: capability name -> the hook a plugin implements.
HOOK_CAPABILITIES = {
    "migrate": "dbplex_migrate",
    "partition": "dbplex_partition",
    "bench_baseline": "dbplex_bench_baseline",
    "check": "dbplex_check",
    "describe": "dbplex_describe",
    "watch": "dbplex_watch",
}

#: everything the suite can certify, in one sorted list.
ALL = tuple(sorted(CAPABILITIES | set(HOOK_CAPABILITIES)))


def declared(hub: Hub, source: str) -> frozenset[str]:
    """The flags and optional hooks the backend of ``source`` declares."""
    backend = hub.backend(source)
    hooks: set[str] = set()
    for plugin in hub.plugins.describe():
        if any(b["name"] == backend.name for b in plugin["backends"]):
            hooks.update(plugin["hooks"])
    return backend.capabilities | {name for name, hook in HOOK_CAPABILITIES.items() if hook in hooks}
