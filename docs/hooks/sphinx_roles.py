"""Griffe extension: Sphinx roles in dbplex's docstrings shown as code in the reference.

The code's docstrings cross-reference with Sphinx roles (``:class:`~dbplex.pool.Pool```), which
mkdocstrings renders verbatim. This turns each into inline code of the name as Sphinx would show
it (the last component after ``~``), without making it a link: a link to an object the site does
not render would fail the strict build.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`<]+?)(?:\s*<([^>]+)>)?`")


def plain(text: str) -> str:
    def code(match: re.Match[str]) -> str:
        tilde, name, target = match.groups()
        if target:
            return f"`{name.strip()}`"
        return f"`{name.rsplit('.', 1)[-1] if tilde else name}`"

    return ROLE.sub(code, text)


class SphinxRoles(griffe.Extension):
    """Rewrite each docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
