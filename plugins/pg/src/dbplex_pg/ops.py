"""PostgreSQL's own operations, beyond the uniform record ops.

Both return rows as dicts keyed by column name (a later column wins over an earlier one of the
same name) and ``affected`` = the row count of INSERT, UPDATE, DELETE, MERGE and COPY (None for
other statements). When the SQL holds several statements, the last one's result is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from dbplex.ops import Op

if TYPE_CHECKING:
    from sqlalchemy.sql.expression import Executable


class SQL(Op, frozen=True, tag="pg.sql"):
    """Raw SQL text with bound parameters, in psycopg's placeholder style.

    ``%s`` takes ``params`` as a list, ``%(name)s`` as a dict; a dict value binds as JSONB.
    Without ``params`` the text goes to the server untouched (``%`` needs no doubling)::

        SQL("select * from users where id = %(id)s", {"id": 7})
        {"op": "pg.sql", "text": "select 1 as x"}
    """

    text: str
    params: dict[str, Any] | list[Any] | None = None
    redaction: ClassVar[Mapping[str, str]] = {"text": "sql"}


class Statement(Op, frozen=True, tag="pg.statement"):
    """A SQLAlchemy Core statement (select, insert, update, delete, text, DDL), Python API only.

    It is compiled for psycopg, cached per statement object, and run with bound parameters.
    ``params`` fills ``bindparam()`` placeholders; a list of dicts runs the statement once per
    dict (psycopg's ``executemany``, no rows returned)::

        by_id = select(users).where(users.c.id == bindparam("id"))   # build once
        hub.execute("db", Statement(by_id, {"id": 7}))               # compiled once, run often
    """

    statement: Executable
    redaction: ClassVar[Mapping[str, str]] = {"statement": "sql"}
    params: dict[str, Any] | list[dict[str, Any]] | None = None
