"""dbplex-sqlite: a SQLite backend for dbplex, and the worked example of a third-party plugin.

Public names are the backend's own op and its options; everything else is reached through
dbplex's hooks.
"""

from dbplex_sqlite.ops import Execute
from dbplex_sqlite.options import SqliteOptions

__all__ = ["Execute", "SqliteOptions"]
