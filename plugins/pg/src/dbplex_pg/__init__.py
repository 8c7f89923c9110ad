"""dbplex's PostgreSQL backend: psycopg 3 pools, JSONB records, SQLAlchemy Core statements.

Importing this package imports no driver; :mod:`dbplex_pg.tables` (SQLAlchemy) is imported on
demand.
"""

from __future__ import annotations

from dbplex_pg.ops import SQL, Statement
from dbplex_pg.options import PgOptions

__all__ = ["SQL", "PgOptions", "Statement"]
