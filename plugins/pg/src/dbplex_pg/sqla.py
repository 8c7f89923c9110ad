"""Helpers for SQLAlchemy Core users: the record tables, and text search that can use its index.

Imported on demand (it imports SQLAlchemy)::

    from dbplex_pg.sqla import record_table, tsvector

    users = record_table("users")
    select(users.c.key).where(users.c.data["name"].astext == "Ada")

    body = tsvector(articles.c.body)                         # to_tsvector('english', body)
    Index("articles_fts", body, postgresql_using="gin")
    select(articles.c.id).where(body.match("cats", postgresql_regconfig="english"))
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement


def record_table(name: str, schema: str | None = "public", metadata: MetaData | None = None) -> Table:
    """The table holding the records of op table ``name`` (``schema`` as in the source's options).

    ``data`` is JSONB with the record's values; bytes and exponent-form floats appear as
    ``{"$bytes": base64}`` and ``{"$float": repr}``.
    """
    return Table(
        name,
        metadata if metadata is not None else MetaData(),
        Column("key", Text(collation="C"), primary_key=True),
        Column("data", JSONB, nullable=False),
        schema=schema,
    )


def tsvector(document: ColumnElement[Any], config: str = "english") -> ColumnElement[Any]:
    """``to_tsvector('<config>', document)`` with the configuration written into the SQL.

    ``func.to_tsvector("english", col)`` binds "english" as a parameter: it cannot appear in an
    ``Index`` at all, and in a query it stops a prepared (generic) plan from using the index,
    which PostgreSQL only matches to an identical expression.
    """
    quoted = "'" + config.replace("'", "''") + "'"
    return func.to_tsvector(text(quoted), document)
