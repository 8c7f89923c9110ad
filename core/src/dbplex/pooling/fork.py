"""Pools must not cross ``fork()``: a child that used its parent's sockets would interleave
their protocol streams. Registered objects drop their pools in the child (without closing them,
which would end the parent's sessions), and the child opens its own on first use."""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class ForkAware(Protocol):
    def after_fork(self) -> None:
        """Forget every pool inherited from the parent; called in the child only."""
        ...


_registered: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def _in_child() -> None:
    for owner in list(_registered):
        owner.after_fork()


def register(owner: ForkAware) -> None:
    """Call ``owner.after_fork()`` in every child forked from now on (while ``owner`` lives)."""
    _registered.add(owner)


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_in_child)
