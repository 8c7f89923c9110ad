"""How every command reports a failure: one scrubbed line on stderr, no traceback.

A :class:`~dbplex.errors.DbplexError` is printed as its message with its exit code. Any other
exception (a bug, or a driver error no plugin translated) is printed as one line naming its type
and exits 2. ``dbplex --debug`` adds the traceback, scrubbed of secrets like everything else.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from dbplex.errors import DbplexError

#: click's own control flow (``--help``, usage errors, Ctrl-C), which click reports itself.
_CLICK_FLOW = (click.exceptions.Exit, click.ClickException, click.Abort)


def debugging() -> bool:
    """Whether the running command was given ``dbplex --debug``."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and bool(ctx.find_root().params.get("debug"))


def fail(message: str, exit_code: int = 2) -> NoReturn:
    """Print ``message`` (scrubbed of secrets) to stderr and exit."""
    from dbplex.secrets import scrub  # imported on the way out: start-up stays short

    click.echo(f"Error: {scrub(message)}", err=True)
    sys.exit(exit_code)


def _show_traceback(exc: BaseException) -> None:
    import traceback

    from dbplex.secrets import scrub

    click.echo(scrub("".join(traceback.format_exception(exc))).rstrip("\n"), err=True)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe_unexpected(exc: Exception, debug: bool = False) -> str:
    """One line for an exception no part of dbplex turned into a :class:`DbplexError`."""
    if isinstance(exc, RecursionError):
        what = "the input is nested too deeply for Python's recursion limit; flatten it"
    elif isinstance(exc, UnicodeError):
        what = f"text that is not valid UTF-8 ({_first_line(exc)}); pass UTF-8"
    else:
        what = (
            f"unexpected {type(exc).__name__}: {_first_line(exc) or 'no message'} "
            "(a bug in dbplex, a plugin or a driver, or a server that behaves unlike the one it expects)"
        )
    return what if debug else f"{what}; `dbplex --debug ...` shows the traceback"


def report(exc: BaseException) -> NoReturn:
    """Report ``exc`` as one line (and with ``--debug`` its traceback) and exit."""
    debug = debugging()
    if debug:
        _show_traceback(exc)
    if isinstance(exc, DbplexError):
        fail(str(exc), exc.exit_code)
    if isinstance(exc, Exception):
        fail(describe_unexpected(exc, debug))
    raise exc


@contextmanager
def reported() -> Iterator[None]:
    """Turn a DbplexError raised inside the block into a one-line message and its exit code."""
    try:
        yield
    except DbplexError as exc:
        report(exc)


class ReportingGroup(click.Group):
    """A command group whose commands never end in a traceback (unless ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _CLICK_FLOW:
            raise
        except Exception as exc:  # the edge of the program: every failure becomes one line
            report(exc)
