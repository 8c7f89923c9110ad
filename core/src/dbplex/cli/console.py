"""The consoles every command prints through.

Rich assumes 80 columns when output is a file or a pipe (CI logs, ``| less``), which folds the
wider tables into unreadable cells; there, a fixed wide console keeps each row on one line.
"""

from __future__ import annotations

import os

from rich.console import Console

#: columns used when output is not a terminal and $COLUMNS does not say otherwise.
PIPE_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr), wide enough for tables when it is not a terminal."""
    terminal = Console(stderr=stderr)
    if terminal.is_terminal or os.environ.get("COLUMNS"):
        return terminal
    return Console(stderr=stderr, width=PIPE_WIDTH)
