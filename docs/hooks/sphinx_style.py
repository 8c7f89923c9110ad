"""Griffe extension: the Sphinx conventions of dbplex's code, as mkdocstrings should show them.

- Roles (``:class:`~dbplex.pool.Pool```), which mkdocstrings renders verbatim, become inline code
  of the name as Sphinx would show it (the last component after ``~``). Not a link: a link to an
  object the site does not render would fail the strict build.
- An attribute's ``#:`` comment (``formats`` of a Migrator, ``label`` of a Baseline) becomes its
  docstring: griffe reads only a string literal after the attribute, and mkdocstrings leaves out
  a member without a docstring, so a contract's attributes would silently vanish from the
  reference.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`<]+?)(?:\s*<([^>]+)>)?`")


def plain(text: str) -> str:
    """``text`` with each Sphinx role as inline code."""

    def code(match: re.Match[str]) -> str:
        tilde, name, target = match.groups()
        if target:
            return f"`{name.strip()}`"
        return f"`{name.rsplit('.', 1)[-1] if tilde else name}`"

    return ROLE.sub(code, text)


def comment_above(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines directly above line ``lineno`` (1-based), joined."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        found.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return " ".join(found)


class SphinxStyle(griffe.Extension):
    """Rewrite docstrings as objects are loaded."""

    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.lineno is None:
            return
        comment = comment_above(attr.module.lines, attr.lineno)
        if comment:
            attr.docstring = griffe.Docstring(
                plain(comment),
                parent=attr,
                parser=getattr(agent, "docstring_parser", None),
                parser_options=getattr(agent, "docstring_options", None),
            )

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
