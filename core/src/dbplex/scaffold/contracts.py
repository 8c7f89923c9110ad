"""Stub classes written from the contract Protocols themselves, for ``dbplex new-plugin``.

A new plugin's skeleton states every method of every contract with the signature and docstring
the core declares, each raising ``NotImplementedError`` that says what to write, so the skeleton
cannot drift from the code and an author needs no ``inspect.signature`` to learn a contract.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import json
import re
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Text:
    """An annotation shown as written: ``inspect`` formats an annotation object by its repr."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


@dataclass
class Imports:
    """``from MODULE import NAME`` lines that the stubs of one generated module need."""

    names: dict[str, set[str]] = field(default_factory=dict)

    def add(self, module: str, name: str) -> None:
        self.names.setdefault(module, set()).add(name)

    def lines(self) -> str:
        """The import block: standard library first, then the rest (dbplex), as isort orders them."""

        def line(module: str) -> str:
            return f"from {module} import {', '.join(sorted(self.names[module]))}"

        stdlib = [line(m) for m in sorted(self.names) if m.split(".")[0] in sys.stdlib_module_names]
        other = [line(m) for m in sorted(self.names) if m.split(".")[0] not in sys.stdlib_module_names]
        return "\n\n".join("\n".join(group) for group in (stdlib, other) if group)


def _home(obj: Any, name: str, defined_in: str) -> str:
    """The shortest module path that exports ``obj`` as ``name``: ``dbplex.pooling``, not its
    private submodule; ``defined_in`` (the contract's module) for what names no module of its own,
    such as a type alias (``Row = tuple[...]``)."""
    module: str = getattr(obj, "__module__", "") or ""
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        candidate = ".".join(parts[:end])
        if getattr(sys.modules.get(candidate), name, None) is obj:
            return candidate
    return defined_in


def _namespace(module_name: str) -> dict[str, Any]:
    """The names a module's annotations may use: its globals, and what it imports only for type
    checking (``if TYPE_CHECKING:``), imported here."""
    module = sys.modules[module_name]
    namespace = dict(vars(module))
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = alias.asname or alias.name
                if name not in namespace:
                    namespace[name] = getattr(importlib.import_module(node.module), alias.name)
    return namespace


def _annotation(text: str, namespace: Mapping[str, Any], renames: Mapping[str, str], imports: Imports) -> str:
    """``text`` with renamed names, recording an import for every other name it uses."""

    def name(match: re.Match[str]) -> str:
        word = match[0]
        if word in renames:
            return renames[word]
        if word in {"None", "True", "False"} or hasattr(builtins, word):
            return word
        if word not in namespace:
            raise LookupError(f"annotation {text!r}: {word!r} is not a name of the contract's module")
        imports.add(_home(namespace[word], word, namespace["__name__"]), word)
        return word

    return _IDENTIFIER.sub(name, text)


def _signature(function: Any, namespace: Mapping[str, Any], renames: Mapping[str, str], imports: Imports) -> str:
    signature = inspect.signature(function)

    def shown(annotation: Any) -> Any:
        if annotation is inspect.Parameter.empty:
            return annotation
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        return _Text(_annotation(text, namespace, renames, imports))

    parameters = [p.replace(annotation=shown(p.annotation)) for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=shown(signature.return_annotation)))


def _docstring(doc: str | None, indent: str) -> str:
    text = inspect.cleandoc(doc or "").replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if not text:
        return ""
    if "\n" not in text:
        return f'{indent}"""{text}"""\n'
    return f'{indent}"""{textwrap.indent(text, indent).strip()}\n{indent}"""\n'


def _first_sentence(doc: str | None) -> str:
    text = " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())
    return re.split(r"\.\s+(?=[A-Z])", text)[0].rstrip(".")


def _raise(message: str) -> str:
    """``raise NotImplementedError(message)``, the message split into lines that fit."""
    if len(message) <= 82:
        return f"        raise NotImplementedError({json.dumps(message, ensure_ascii=False)})\n"
    chunks = textwrap.wrap(message, 96, drop_whitespace=False, break_on_hyphens=False)
    literals = "".join(f"            {json.dumps(chunk, ensure_ascii=False)}\n" for chunk in chunks)
    return f"        raise NotImplementedError(\n{literals}        )\n"


def stub_class(
    protocol: type,
    class_name: str,
    *,
    where: str,
    init: Mapping[str, str],
    attributes: Mapping[str, tuple[str, str]],
    imports: Imports,
    renames: Mapping[str, str] | None = None,
) -> str:
    """The source of ``class_name``: every public member of ``protocol``, each raising
    ``NotImplementedError``, and a constructor taking ``init`` (parameter: annotation, as the hook
    passes them). ``attributes`` gives each annotated attribute of the protocol a value and a
    comment; ``renames`` replaces names in annotations (a type variable by its alias); ``where``
    is the file the author edits, named in each message."""
    namespace = _namespace(protocol.__module__)
    renames = dict(renames or {})
    home = f"{_home(protocol, protocol.__name__, protocol.__module__)}.{protocol.__name__}"
    doc = f"Satisfies :class:`{home}`.\n\n{inspect.cleandoc(protocol.__doc__ or '')}"
    lines = [f"class {class_name}:\n", _docstring(doc, "    ")]
    for attribute, annotation in inspect.get_annotations(protocol).items():
        if attribute not in attributes:
            raise LookupError(f"{protocol.__name__}.{attribute}: no value for the generated stub")
        value, comment = attributes[attribute]
        lines.append(
            f"\n    #: {comment}\n    {attribute}: {_annotation(annotation, namespace, renames, imports)} = {value}\n"
        )
    params = ", ".join(f"{name}: {annotation}" for name, annotation in init.items())
    lines.append(f"\n    def __init__(self, {params}) -> None:\n")
    lines.extend(f"        self.{name} = {name}\n" for name in init)
    for name, member in vars(protocol).items():
        if name.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else member
        if not callable(function):
            continue
        decorator = "    @property\n" if isinstance(member, property) else ""
        coroutine = "async " if inspect.iscoroutinefunction(function) else ""
        message = f"{class_name}.{name} in {where}, not written yet: {_first_sentence(function.__doc__)}"
        lines.append(
            f"\n{decorator}    {coroutine}def {name}{_signature(function, namespace, renames, imports)}:\n"
            f"{_docstring(function.__doc__, '        ')}"
            f"{_raise(message)}"
        )
    return "".join(lines).rstrip("\n")
