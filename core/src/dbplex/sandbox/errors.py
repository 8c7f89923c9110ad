"""The one error type of the sandbox, so callers can catch sandbox failures apart from others."""

from __future__ import annotations

from dbplex.errors import DbplexError


class SandboxError(DbplexError):
    """A sandbox server could not be found, started, stopped, or its state could not be read."""
