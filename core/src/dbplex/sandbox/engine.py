"""The interface every kind of sandbox server implements, so ``up`` and ``down`` treat them alike."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dbplex.sandbox.records import Server


@dataclass(frozen=True)
class Engine:
    """How to start, probe and stop one kind of database server."""

    #: prepare ``home`` (a new, empty folder) and spawn a server as ``name`` on ``port``; must not wait.
    launch: Callable[[str, Path, int], Server]
    #: one quick readiness check: True once the server accepts work.
    ready: Callable[[Server], bool]
    #: the signal that shuts the server down cleanly without waiting for its clients.
    stop_signal: signal.Signals
