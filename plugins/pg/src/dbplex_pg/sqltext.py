"""Split a PostgreSQL script into statements and spot those that cannot run in a transaction.

Pure text work, tested without a server. Quotes (``'...'``, ``E'...'`` with backslash escapes,
``"..."``), dollar quotes (``$tag$...$tag$``), line comments and nested block comments are
skipped, so only top-level semicolons end a statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_IDENTIFIER_CHAR = re.compile(r"[A-Za-z0-9_$]")

#: statements PostgreSQL refuses inside a transaction block.
_NO_TRANSACTION = re.compile(
    r"^(?:CREATE (?:UNIQUE )?INDEX CONCURRENTLY|DROP INDEX CONCURRENTLY|REINDEX .*\bCONCURRENTLY\b|"
    r"ALTER TABLE .* DETACH PARTITION .* CONCURRENTLY$|VACUUM\b|CREATE DATABASE\b|DROP DATABASE\b|"
    r"CREATE TABLESPACE\b|DROP TABLESPACE\b|ALTER SYSTEM\b|CLUSTER$)"
)
_TRANSACTION_CONTROL = re.compile(
    r"^(?:BEGIN|START TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE TRANSACTION)\b"
)
_CONCURRENT_INDEX_NAME = re.compile(
    r"\bCONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?((?:\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*)"
    r"(?:\s*\.\s*(?:\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*))?)\s+ON\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Statement:
    """One statement of a script and what running it requires."""

    text: str
    #: the line of the script its code starts on (1-based), for error messages.
    line: int
    #: what PostgreSQL refuses inside a transaction block, e.g. ``CREATE INDEX CONCURRENTLY``.
    needs_autocommit: str | None
    #: BEGIN, COMMIT, SAVEPOINT...: the migrator runs the transaction, a file must not.
    controls_transaction: str | None
    #: CREATE INDEX CONCURRENTLY's index name as written (quotes and schema kept), if it names one.
    concurrent_index: str | None


def split(script: str) -> list[Statement]:
    """The statements of ``script`` (comment-only pieces dropped), without their final semicolon."""
    statements: list[Statement] = []
    start = i = 0
    n = len(script)
    while i < n:
        c = script[i]
        if c == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and script.startswith("/*", i):
            i = _block_comment_end(script, i)
        elif c == "'":
            i = _quoted_end(script, i, "'", backslash=_is_escape_string(script, i))
        elif c == '"':
            i = _quoted_end(script, i, '"', backslash=False)
        elif (
            c == "$" and not (i > 0 and _IDENTIFIER_CHAR.match(script[i - 1])) and (tag := _DOLLAR_TAG.match(script, i))
        ):
            end = script.find(tag.group(), tag.end())
            i = n if end < 0 else end + len(tag.group())
        elif c == ";":
            _add(statements, script, start, i)
            i += 1
            start = i
        else:
            i += 1
    _add(statements, script, start, n)
    return statements


def _is_escape_string(script: str, i: int) -> bool:
    """``E'...'`` (and not a quote after an identifier ending in e, like ``type'``)."""
    return i > 0 and script[i - 1] in "eE" and not (i > 1 and _IDENTIFIER_CHAR.match(script[i - 2]))


def _add(statements: list[Statement], script: str, start: int, end: int) -> None:
    piece = script[start:end]
    code = _code(piece)
    if not code:
        return
    name = _CONCURRENT_INDEX_NAME.search(_strip_comments(piece))
    refused = _NO_TRANSACTION.match(code)
    control = _TRANSACTION_CONTROL.match(code)
    statements.append(
        Statement(
            text=piece.strip(),
            line=script.count("\n", 0, _code_start(script, start, end)) + 1,
            needs_autocommit=refused.group().rstrip() if refused else None,
            controls_transaction=control.group() if control else None,
            concurrent_index=name.group(1)
            if name and code.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX"))
            else None,
        )
    )


def _code_start(script: str, i: int, end: int) -> int:
    """Where the code of a statement starts, after whitespace and comments."""
    while i < end:
        if script[i].isspace():
            i += 1
        elif script.startswith("--", i):
            newline = script.find("\n", i)
            i = end if newline < 0 else newline + 1
        elif script.startswith("/*", i):
            i = _block_comment_end(script, i)
        else:
            break
    return i


def _block_comment_end(script: str, i: int) -> int:
    depth, i = 1, i + 2
    while i < len(script) and depth:
        if script.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif script.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _quoted_end(script: str, i: int, quote: str, *, backslash: bool) -> int:
    i += 1
    while i < len(script):
        c = script[i]
        if backslash and c == "\\":
            i += 2
        elif c == quote:
            if not script.startswith(quote * 2, i):
                return i + 1
            i += 2
        else:
            i += 1
    return i


def _strip_comments(text: str) -> str:
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            out.append(" ")
        elif text.startswith("/*", i):
            i = _block_comment_end(text, i)
            out.append(" ")
        elif text[i] in "'\"":
            end = _quoted_end(text, i, text[i], backslash=text[i] == "'" and _is_escape_string(text, i))
            out.append(text[i:end])
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _code(text: str) -> str:
    """The statement without comments, whitespace collapsed, upper case (for classifying it)."""
    return " ".join(_strip_comments(text).split()).upper()
