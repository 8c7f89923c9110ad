"""How every command reports a :class:`~dbplex.errors.DbplexError`: one line, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import click

from dbplex.errors import DbplexError
from dbplex.secrets import scrub

F = TypeVar("F", bound=Callable[..., object])


def fail(message: str, exit_code: int = 2) -> NoReturn:
    """Print ``message`` (scrubbed of secrets) to stderr and exit."""
    click.echo(f"Error: {scrub(message)}", err=True)
    sys.exit(exit_code)


@contextmanager
def reported() -> Iterator[None]:
    """Turn a DbplexError raised inside the block into a one-line message and its exit code."""
    try:
        yield
    except DbplexError as exc:
        fail(str(exc), exc.exit_code)
