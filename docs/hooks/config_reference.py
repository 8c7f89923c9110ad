"""MkDocs hook: the configuration reference, generated from the msgspec Structs of ``dbplex.config``.

``<!-- dbplex:config-reference -->`` on a line of its own becomes one section per Struct reachable from
:class:`dbplex.config.Config`, in the order the file nests them, headed by its TOML table
(``[sources.NAME.pool]``), with each field's type and constraints (from msgspec's own
introspection, so what the reference says is what validation enforces), default, and the ``#:``
comment above it in the source. A field without a comment of its own directly below a commented
one shares it (``reconnect_min`` and ``reconnect_max``). docs/configuration.md stays the guide.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Any

import msgspec
import msgspec.inspect as mi

MARKER = "<!-- dbplex:config-reference -->"
ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
#: msgspec constraint attribute -> how the reference writes it.
BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "length ≥", "max_length": "length ≤"}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if not re.search(rf"^{re.escape(MARKER)}$", markdown, re.M):
        return markdown
    from dbplex.config import Config

    return re.sub(rf"^{re.escape(MARKER)}$", lambda _: render(Config), markdown, flags=re.M)


def render(root: type[msgspec.Struct]) -> str:
    """Every Struct reachable from ``root`` as a Markdown section, depth first."""
    sections: list[str] = []
    seen: set[type] = set()

    def visit(struct: type[msgspec.Struct], table: str) -> None:
        if struct in seen:
            return
        seen.add(struct)
        info = mi.type_info(struct)
        assert isinstance(info, mi.StructType)
        comments = field_comments(struct)
        heading = f"`[{table}]` {{#{anchor(table)}}}" if table else "The top level of the file"
        rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
        nested: list[tuple[type[msgspec.Struct], str]] = []
        for field in info.fields:
            key = f"{table}.{field.encode_name}" if table else field.encode_name
            inner = struct_of(field.type)
            if inner is not None:
                nested.append((inner, key + (".NAME" if isinstance(field.type, mi.DictType) else "")))
            cell = one_line(comments.get(field.name) or (inspect.getdoc(inner) if inner is not None else "") or "")
            kind = type_text(field.type)
            if inner is not None:
                kind = f"[{kind}](#{anchor(nested[-1][1])})"
            rows.append(f"| `{field.encode_name}` | {kind} | {default_text(field)} | {cell} |")
        doc = one_line(inspect.getdoc(struct) or "")
        sections.append(f"## {heading}\n\n`{struct.__module__}.{struct.__name__}`: {doc}\n\n" + "\n".join(rows))
        for inner, key in nested:
            visit(inner, key)

    visit(root, "")
    return "\n\n".join(sections) + "\n"


def anchor(table: str) -> str:
    """The section id of a TOML table: ``sources.NAME.pool`` -> ``sources-name-pool``."""
    return table.lower().replace(".", "-").replace("_", "-")


def field_comments(struct: type) -> dict[str, str]:
    """The ``#:`` comment above each field of ``struct``'s class body, by field name."""
    lines, _ = inspect.getsourcelines(struct)
    body = ast.parse(textwrap.dedent("".join(lines))).body[0]
    assert isinstance(body, ast.ClassDef)
    source = textwrap.dedent("".join(lines)).splitlines()
    found: dict[str, str] = {}
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        comment: list[str] = []
        number = node.lineno - 2
        while number >= 0 and source[number].strip().startswith("#:"):
            comment.insert(0, source[number].strip()[2:].strip())
            number -= 1
        if comment:
            found[node.target.id] = " ".join(comment)
    return found


def struct_of(info: mi.Type) -> type[msgspec.Struct] | None:
    """The Struct a field holds directly or as a table of them, if any."""
    if isinstance(info, mi.StructType):
        return info.cls
    if isinstance(info, mi.DictType) and isinstance(info.value_type, mi.StructType):
        return info.value_type.cls
    return None


def type_text(info: mi.Type) -> str:
    """A field's type as a reader of the TOML file sees it, with msgspec's constraints."""
    if isinstance(info, mi.UnionType):
        return " or ".join(type_text(member) for member in info.types)
    if isinstance(info, mi.NoneType):
        return "unset"
    if isinstance(info, mi.LiteralType):
        return " / ".join(f'`"{value}"`' if isinstance(value, str) else f"`{value}`" for value in info.values)
    if isinstance(info, mi.StructType):
        return f"table ({info.cls.__name__})"
    if isinstance(info, mi.DictType) and isinstance(info.value_type, mi.StructType):
        return f"tables ({info.value_type.cls.__name__}) by name"
    if isinstance(info, mi.DictType):
        return f"table of {type_text(info.value_type)}"
    if isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType)):
        return f"list of {type_text(info.item_type)}"
    names = {mi.IntType: "int", mi.FloatType: "number", mi.StrType: "string", mi.BoolType: "bool", mi.AnyType: "any"}
    name = names.get(type(info), type(info).__name__.removesuffix("Type").lower())
    bounds = [
        f"{symbol} {number_text(getattr(info, attr))}"
        for attr, symbol in BOUNDS.items()
        if getattr(info, attr, None) is not None
    ]
    return name + (f" ({', '.join(bounds)})" if bounds else "")


def number_text(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def default_text(field: mi.Field) -> str:
    if field.required:
        return "required"
    value = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
    if isinstance(value, msgspec.Struct):
        return "the table's defaults"
    if value is None:
        return "unset"
    return f"`{toml_value(value)}`"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{}" if not value else "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return repr(value)


def one_line(text: str) -> str:
    """Text fit for a table cell: one line, Sphinx roles as code, pipes escaped."""
    text = ROLE.sub(lambda match: f"`{match.group(1).rsplit('.', 1)[-1]}`", text)
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")
