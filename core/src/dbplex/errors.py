"""Errors a user can act on.

Every error dbplex raises on purpose is a :class:`DbplexError`: its message names what is
wrong and what to do about it, and never contains a password. The CLI prints the message
alone (no traceback) and exits with :attr:`DbplexError.exit_code`.
"""

from __future__ import annotations


class DbplexError(Exception):
    """Base of every error dbplex raises on purpose."""

    #: exit code of the CLI: 2 for usage, configuration and connection problems.
    exit_code = 2


class ConfigError(DbplexError):
    """The configuration file is missing, is not valid TOML, or a field is wrong."""


class ChangesPruned(ConfigError):
    """A change feed was asked to resume after a position whose later changes were pruned.

    At-least-once delivery cannot hold from there: the reader has to copy the data again and
    watch from now.
    """


class PluginError(DbplexError):
    """A plugin failed to load or two plugins claim the same URL scheme."""


class UnknownSchemeError(DbplexError):
    """No installed backend handles a source's URL scheme."""


class OpError(DbplexError):
    """An operation is malformed or not supported by the source's backend."""


class InvalidValue(OpError):
    """A key, field name or value lies outside the uniform value domain (:mod:`dbplex.values`).

    Raised when the op is built, before any backend sees it, so every backend refuses alike.
    """


class UnsupportedError(OpError):
    """The backend (or the server behind it) lacks a capability the call needs."""


class SourceUnavailable(DbplexError):
    """A source could not be reached: refused, timed out, or rejected the credentials."""


class PoolTimeout(SourceUnavailable):
    """No connection became free within the pool's wait timeout."""


class PoolFull(PoolTimeout):
    """Turned away without waiting: ``pool.max_waiting`` callers were already waiting.

    A :class:`PoolTimeout`, so code that handles an exhausted pool handles this too.
    """


class QueryError(DbplexError):
    """The server rejected an operation (constraint violation, syntax error, ...)."""

    exit_code = 1
