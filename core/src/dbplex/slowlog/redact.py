"""Operations shown without their parameter values, for slow-operation logs.

Keys, record values, filter values, SQL literals and parameters, command arguments can all be
personal data, so while a source's ``slow.redact`` is on (the default) an operation is shown by
its shape: its type, the names of its tables, collections and fields, and ``?`` for every value.
A field is shown as it is only when it names structure (:data:`KEEP`, or the op type's
``redaction`` saying ``keep``); an op type marks statement text ``sql`` (literals replaced) and
command argument lists ``command`` (the command's name kept). Never a password: no value is
shown while redacting; statements and commands that can carry a password (:func:`sensitive`)
are redacted even when redaction is off; and :func:`~dbplex.secrets.scrub` runs over what is
shown either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from dbplex.secrets import scrub

#: what stands for a value.
HIDDEN = "?"

#: fields of any op that name structure rather than carry values: shown as they are.
KEEP = frozenset({"table", "collection", "fields", "limit", "skip"})

_SQL_LITERAL = re.compile(
    r"""
      \$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$.*?\$(?P=tag)?\$   # dollar-quoted string
    | [EeBbXxNnUu]?'(?:[^']|'')*'                            # quoted string (E'', B'', U&'' ...)
    | (?<![\w$.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])      # number, not part of a name or $1
    | (?<![\w$])\.\d+(?:[eE][-+]?\d+)?(?![\w.])              # number such as .5
    """,
    re.VERBOSE | re.DOTALL,
)


_PASSWORD = re.compile(r"password|passwd|secret|credential", re.IGNORECASE)

#: Redis commands whose arguments can be a password (``AUTH``, ``HELLO ... AUTH``, ``CONFIG SET
#: requirepass``, ``ACL SETUSER ... >pass``, ``MIGRATE ... AUTH``).
_SENSITIVE_COMMANDS = frozenset({"AUTH", "HELLO", "CONFIG", "ACL", "MIGRATE"})


def sensitive(text: str) -> bool:
    """Whether statement text may carry a password (``ALTER ROLE ... PASSWORD '...'``): such a
    statement is shown redacted even when redaction is off."""
    return _PASSWORD.search(text) is not None


def _sensitive_command(args: Sequence[Any]) -> bool:
    if args and isinstance(args[0], (list, tuple)):  # a list of commands (a pipeline)
        return any(_sensitive_command(item) for item in args)
    return bool(args) and _text(args[0]).upper() in _SENSITIVE_COMMANDS


def sql(text: str) -> str:
    """``text`` with every string and number literal replaced by ``?``; placeholders (``$1``,
    ``%s``, ``%(name)s``, ``:name``) and names stay."""
    return _SQL_LITERAL.sub(HIDDEN, text)


def shape(value: Any) -> Any:
    """``value`` with its structure kept and every value hidden: mapping keys (field names and
    operators) and the fields of nested structs stay, lists keep their length, scalars become ``?``."""
    if isinstance(value, msgspec.Struct):
        config = value.__struct_config__
        tag = {config.tag_field: config.tag} if config.tag_field is not None and config.tag is not None else {}
        return {**tag, **{name: shape(v) for name, v in _set_fields(value)}}
    if isinstance(value, Mapping):
        return {str(k): shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shape(v) for v in value]
    return HIDDEN


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def command(args: Sequence[Any], redact: bool) -> str:
    """A command given as its arguments (Redis), as one line: the name, then ``?`` for each
    argument while redacting."""
    if not args:
        return ""
    shown = [_text(args[0]).upper()]
    redact = redact or _sensitive_command(args)
    shown += [HIDDEN if redact else _text(a) for a in args[1:]]
    return " ".join(shown)


def _field(rule: str | None, name: str, value: Any) -> Any:
    if rule == "keep" or (rule is None and name in KEEP):
        return value
    if rule == "sql":
        return sql(str(value))
    if rule == "command":
        if value and isinstance(value[0], (list, tuple)):  # a list of commands (a pipeline)
            return [command(item, True) for item in value]
        return command(value, True)
    return shape(value)


def _tag(op: msgspec.Struct) -> str:
    tag = type(op).__struct_config__.tag
    return str(tag) if tag is not None else type(op).__name__


def _set_fields(struct: msgspec.Struct) -> list[tuple[str, Any]]:
    """``(name, value)`` of a struct's fields that are set: not None, not their plain default.

    Read from the struct's own field tables: resolving its annotations (``msgspec.structs.fields``)
    would fail on a type imported for type checking only, such as SQLAlchemy's ``Executable``.
    """
    names: tuple[str, ...] = struct.__struct_fields__
    defaults: tuple[Any, ...] = struct.__struct_defaults__
    first_default = len(names) - len(defaults)
    found = []
    for index, name in enumerate(names):
        value = getattr(struct, name)
        if value is None:
            continue
        if index >= first_default:
            default = defaults[index - first_default]
            try:
                if value is default or (isinstance(default, (bool, int, float, str)) and value == default):
                    continue
            except TypeError:  # an object whose == builds an expression (SQLAlchemy)
                pass
        found.append((name, value))
    return found


def describe(op: msgspec.Struct, redact: bool) -> str:
    """One line showing ``op``: its tag and its fields other than defaults, as JSON; with
    ``redact``, without parameter values."""
    rules: Mapping[str, str] = getattr(op, "redaction", {})
    fields = _set_fields(op)
    if not redact:  # a statement or command that may carry a password is redacted all the same
        redact = any(
            (rules.get(name) == "sql" and sensitive(str(value)))
            or (rules.get(name) == "command" and _sensitive_command(value))
            for name, value in fields
        )
    shown = {name: _field(rules.get(name), name, value) if redact else value for name, value in fields}
    body = msgspec.json.encode(shown, enc_hook=str).decode()
    return scrub(f"{_tag(op)} {body}")
