"""Read one migration file: its checksum, its up and down bodies and its options.

SQL files carry options in comment lines (``-- dbplex: transaction=false lock_timeout=10s``)
and their down part after a ``-- dbplex:down`` line. Python files are modules with
``up(ctx)``, ``down(ctx)`` or ``irreversible = True``, ``depends_on = [...]`` and the backend's
options as module attributes; they are parsed, not run, until a step calls ``up`` or ``down``.
Problems are reported as text naming the file.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
import traceback
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbplex.migrate.model import COMMON_OPTIONS, Body, Migration
from dbplex.migrate.naming import FileName, Ref, parse_ref

if TYPE_CHECKING:
    from dbplex.migrate.context import MigrationContext

_DIRECTIVE = re.compile(r"^\s*--\s*dbplex:\s*(?P<body>.*?)\s*$", re.IGNORECASE)
_TRUE, _FALSE = {"true", "yes", "on"}, {"false", "no", "off"}


class FileProblem(Exception):
    """A problem in one migration file (the message names it)."""


def normalise(raw: bytes, path: Path) -> str:
    """The file's text as checksummed and run: UTF-8, no BOM, LF line endings."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def checksum(text: str) -> str:
    """SHA-256 of normalised text, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Rules:
    """What a source's backend accepts: file formats and per-file options."""

    formats: frozenset[str]
    options: frozenset[str]


def load(source: str, path: Path, name: FileName, rules: Rules) -> Migration:
    """Read ``path``; raise :class:`FileProblem` naming it when anything is wrong."""
    text = normalise(path.read_bytes(), path)
    up: Body
    down: Body | None
    if name.format == "sql":
        up, down, options = _sql_parts(text, path, rules)
    else:
        up, down, options = _python_parts(text, source, path, rules)
    irreversible = _flag(options.pop("irreversible", False), "irreversible", path)
    depends_on = _refs(options.pop("depends_on", ()), source, path)
    if name.kind == "repeatable":
        if down is not None or irreversible:
            raise FileProblem(f"{path}: a repeatable migration has no down part (it is re-applied when it changes)")
    elif down is None and not irreversible:
        hint = "a `-- dbplex:down` section" if name.format == "sql" else "a down(ctx) function"
        raise FileProblem(f"{path}: no way back: add {hint}, or mark it irreversible")
    elif down is not None and irreversible:
        raise FileProblem(f"{path}: has a down part and is marked irreversible; choose one")
    return Migration(
        source=source,
        path=path,
        kind="versioned" if name.kind == "versioned" else "repeatable",
        version=name.version,
        description=name.description,
        format=name.format,
        checksum=checksum(text),
        up=up,
        down=down,
        irreversible=irreversible,
        depends_on=depends_on,
        options=options,
    )


def _sql_parts(text: str, path: Path, rules: Rules) -> tuple[str, str | None, dict[str, Any]]:
    up_lines: list[str] = []
    down_lines: list[str] | None = None
    options: dict[str, Any] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        match = _DIRECTIVE.match(line)
        if match is None:
            (up_lines if down_lines is None else down_lines).append(line)
            continue
        body = match["body"]
        if body.lower() == "down":
            if down_lines is not None:
                raise FileProblem(f"{path}:{number}: a second `-- dbplex:down` line")
            down_lines = []
            continue
        for token in body.replace(", ", " ").split():
            key, has_value, value = token.partition("=")
            _check_option(key, rules, path, number)
            options[key] = _value(value) if has_value else True
        (up_lines if down_lines is None else down_lines).append("")  # keep line numbers of errors
    up = "\n".join(up_lines)
    if not _has_statement(up):
        raise FileProblem(
            f"{path}: no SQL statement before {'`-- dbplex:down`' if down_lines is not None else 'the end'}"
        )
    down = "\n".join(down_lines) if down_lines is not None else None
    if down is not None and not _has_statement(down):
        raise FileProblem(
            f"{path}: the `-- dbplex:down` section is empty (mark the file `-- dbplex: irreversible` instead)"
        )
    return up, down, options


def _has_statement(sql: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in sql.split("\n"))


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return text


def _check_option(key: str, rules: Rules, path: Path, line: int | None = None) -> None:
    known = COMMON_OPTIONS | rules.options
    if key not in known:
        where = f"{path}:{line}" if line else str(path)
        raise FileProblem(f"{where}: unknown option {key!r} (known: {', '.join(sorted(known))})")


def _python_parts(text: str, source: str, path: Path, rules: Rules) -> tuple[Body, Body | None, dict[str, Any]]:
    """Read a Python migration without running it: ``status``, ``validate`` and ``plan`` must
    have no side effects, so the module is parsed here and executed only when a step runs."""
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise FileProblem(f"{path}:{exc.lineno}: cannot load: SyntaxError: {exc.msg}") from None
    bound = _top_level_names(tree)
    module = _LazyModule(text, source, path)
    if "up" not in bound:
        raise FileProblem(f"{path}: defines no up(ctx) function")
    up = _body(module, "up", bound["up"])
    down_binding = bound.get("down")
    down: Body | None = None
    if down_binding is not None and not (isinstance(down_binding, ast.Constant) and down_binding.value is None):
        down = _body(module, "down", down_binding)
    options = {key: _literal(key, bound[key], path) for key in COMMON_OPTIONS | rules.options if key in bound}
    return up, down, options


def _top_level_names(tree: ast.Module) -> dict[str, ast.AST]:
    """Each name the module binds at its top level, with what binds it last (a def, an import, or a value)."""
    bound: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound[node.name] = node
        elif isinstance(node, ast.Assign):
            bound.update((t.id, node.value) for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            bound[node.target.id] = node.value
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update(((alias.asname or alias.name).partition(".")[0], node) for alias in node.names)
    return bound


def _body(module: _LazyModule, name: str, binding: ast.AST) -> Body:
    if isinstance(binding, ast.Constant):
        raise FileProblem(f"{module.path}:{binding.lineno}: `{name}` must be a function {name}(ctx)")
    return _PythonBody(module, name)


def _literal(key: str, binding: ast.AST, path: Path) -> Any:
    """The value of an option, which must be written as a literal: the file is not run to read it."""
    if isinstance(binding, ast.expr):
        try:
            return ast.literal_eval(binding)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            pass
    raise FileProblem(
        f"{path}:{getattr(binding, 'lineno', '?')}: {key} must be a literal value such as True, 'docs:V0003' "
        "or a list of them (dbplex reads it without running the file)"
    )


class _LazyModule:
    """A Python migration's module, executed once, when one of its functions is first called."""

    def __init__(self, text: str, source: str, path: Path) -> None:
        self.text, self.source, self.path = text, source, path
        self._module: types.ModuleType | None = None

    def get(self) -> types.ModuleType:
        if self._module is None:
            name = "dbplex_migrations." + re.sub(r"\W", "_", f"{self.source}.{self.path.stem}")
            module = types.ModuleType(name)
            module.__file__ = str(self.path)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            try:
                exec(compile(self.text, str(self.path), "exec"), module.__dict__)
            except BaseException:
                sys.modules.pop(name, None)
                raise  # its traceback holds the file's line, which the run's report names
            self._module = module
        return self._module


@dataclass(frozen=True)
class _PythonBody:
    """``up`` or ``down`` of a Python migration, importing the module on the first call."""

    module: _LazyModule
    name: str

    def __call__(self, ctx: MigrationContext) -> object:
        function = getattr(self.module.get(), self.name, None)
        if not callable(function):
            raise TypeError(f"{self.module.path}: `{self.name}` must be a function {self.name}(ctx)")
        return function(ctx)


def _line_in(exc: BaseException, path: Path) -> int | None:
    """The last line of ``path`` in the traceback of ``exc`` or of what caused it (a driver
    error translated by the backend); syntax errors carry their own."""
    if isinstance(exc, SyntaxError):
        return exc.lineno
    seen: BaseException | None = exc
    for _ in range(8):  # a bounded walk down the chain
        if seen is None:
            break
        lines = [frame.lineno for frame in traceback.extract_tb(seen.__traceback__) if frame.filename == str(path)]
        if lines:
            return lines[-1]
        seen = seen.__cause__ or seen.__context__
    return None


def _flag(value: Any, key: str, path: Path) -> bool:
    if not isinstance(value, bool):
        raise FileProblem(f"{path}: {key} must be true or false, not {value!r}")
    return value


def _refs(value: Any, source: str, path: Path) -> tuple[Ref, ...]:
    if isinstance(value, str):
        items: Iterable[Any] = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise FileProblem(f"{path}: depends_on must be a list of refs like 'docs:V0003', not {value!r}")
    refs = []
    for item in items:
        ref = parse_ref(item, source) if isinstance(item, str) else None
        if ref is None:
            raise FileProblem(
                f"{path}: depends_on entry {item!r} is not a ref like 'docs:V0003', 'V0002' or 'docs:R__views'"
            )
        refs.append(ref)
    return tuple(refs)


def error_location(exc: BaseException, path: Path) -> str:
    """`` (V0002__x.py line 12)`` when a Python migration's own code raised, else empty."""
    line = _line_in(exc, path)
    return f" ({path.name} line {line})" if line and not isinstance(exc, SyntaxError) else ""
