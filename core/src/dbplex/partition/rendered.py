"""Helpers partitioners share for actions their ``render`` already filled in.

A backend's ``render`` puts the exact commands it will send in ``Action.payload`` (``commands``
holds their text), and ``apply`` sends those, not commands computed again: what the plan showed
is what runs. Before ``render`` the payload is the planner's or the backend's own data (``None``,
a list of partitions for a Redis ``setup``), never a list of commands.
"""

from __future__ import annotations

from typing import TypeVar

from dbplex.partition.model import Action

C = TypeVar("C")


def rendered_commands(action: Action, command_type: type[C] | tuple[type[C], ...]) -> list[C] | None:
    """The commands ``render`` stored in ``action.payload`` (possibly none), or None when the
    action was not rendered: its payload is not a list made only of ``command_type``."""
    payload = action.payload
    if isinstance(payload, list) and all(isinstance(c, command_type) for c in payload):
        return list(payload)
    return None
