"""dbplex's hooks for SQLite, registered through the ``dbplex`` entry point.

Declared rather than written: :func:`dbplex.backend_plugin.backend_plugin` makes each hook
answer for ``sqlite`` sources alone and import the module that does the work when first
needed, so that loading the plugin (``dbplex plugins``, or an application that uses other
backends) imports no driver.
"""

from __future__ import annotations

from importlib.metadata import version

from dbplex import Backend
from dbplex.backend_plugin import backend_plugin

from dbplex_sqlite.ops import Execute
from dbplex_sqlite.options import SqliteOptions

plugin = backend_plugin(
    Backend(
        name="sqlite",
        schemes=("sqlite",),
        version=version("dbplex-sqlite"),
        capabilities=frozenset({"transactions"}),
        ops=(Execute,),
        options=SqliteOptions,
        description="SQLite database files, through the standard library's sqlite3",
    ),
    connect="dbplex_sqlite.connector:SqliteConnector",
    query="dbplex_sqlite.execute:run",
    health="dbplex_sqlite.health:check",
)
