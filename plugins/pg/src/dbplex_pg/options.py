"""The ``[sources.X.options]`` a PostgreSQL source accepts."""

from __future__ import annotations

from typing import Annotated

import msgspec


class PgOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Settings of a PostgreSQL source beyond its URL and pool."""

    #: schema that holds the tables of the uniform record ops (it must exist).
    schema: Annotated[str, msgspec.Meta(min_length=1, max_length=63)] = "public"
    #: shown in ``pg_stat_activity``; an ``application_name`` in the URL wins.
    application_name: str = "dbplex"
    #: let psycopg prepare a statement on the server once it ran 5 times on a connection; turn
    #: off behind PgBouncer in transaction mode (before PgBouncer 1.21).
    prepared_statements: bool = True
