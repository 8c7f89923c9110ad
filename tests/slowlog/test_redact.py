"""Redaction of ops, statements and commands: the shapes users read in slow logs, and no value.

Pure functions on values a test plants; the end-to-end checks against the servers are in
test_slowlog.py."""

from __future__ import annotations

import pytest

from dbplex import Delete, Get, Put, Scan, Update
from dbplex.slowlog import redact
from dbplex_mongo.ops import Bulk, BulkUpdate, Find
from dbplex_pg.ops import SQL, Statement
from dbplex_redis.ops import Command, Pipeline, Publish

SECRET = "planted-value-91x"  # no password of another test: the scrubber masks those everywhere


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"select * from users where email = '{SECRET}'", "select * from users where email = ?"),
        (f"select E'{SECRET}\\n', 'it''s {SECRET}'", "select ?, ?"),
        (f"select $${SECRET}$$, $tag${SECRET}$tag$", "select ?, ?"),
        ("select 42, 3.14, .5, 1e10 from t1 where x = $1 and y = %s and z = %(name)s", None),
        ("update t set n = 12345 where id = :id", "update t set n = ? where id = :id"),
    ],
)
def test_sql_hides_literals_and_keeps_placeholders_and_names(text: str, shown: str | None) -> None:
    out = redact.sql(text)
    if shown is not None:
        assert out == shown
    else:
        assert out == "select ?, ?, ?, ? from t1 where x = $1 and y = %s and z = %(name)s"
    assert SECRET not in out


@pytest.mark.parametrize(
    ("op", "shown"),
    [
        (Get(table="users", key=SECRET), 'get {"table":"users","key":"?"}'),
        (
            Put(table="users", key=SECRET, values={"email": SECRET, "tags": [SECRET, 1]}),
            'put {"table":"users","key":"?","values":{"email":"?","tags":["?","?"]}}',
        ),
        (Update(table="users", key=SECRET, values={"n": 5}), 'update {"table":"users","key":"?","values":{"n":"?"}}'),
        (Delete(table="users", key=SECRET), 'delete {"table":"users","key":"?"}'),
        (
            Scan(table="users", start_key=SECRET, limit=10, fields=["email"]),
            'scan {"table":"users","start_key":"?","limit":10,"fields":["email"]}',
        ),
        (
            SQL("select * from users where id = %(id)s and email = 'x'", {"id": SECRET}),
            'pg.sql {"text":"select * from users where id = %(id)s and email = ?","params":{"id":"?"}}',
        ),
        (Command(["HSET", f"user:{SECRET}", "email", SECRET]), 'redis.command {"args":"HSET ? ? ?"}'),
        (
            Pipeline([["SET", SECRET, SECRET], ["EXPIRE", SECRET, 60]]),
            'redis.pipeline {"commands":["SET ? ?","EXPIRE ? ?"]}',
        ),
        (Publish(channel=SECRET, message=SECRET), 'redis.publish {"channel":"?","message":"?"}'),
        (
            Find(collection="users", filter={"email": SECRET, "age": {"$gt": 30}}, limit=5),
            'mongo.find {"collection":"users","filter":{"email":"?","age":{"$gt":"?"}},"limit":5}',
        ),
        (
            Bulk(collection="users", requests=[BulkUpdate(filter={"_id": SECRET}, update={"$set": {"n": 1}})]),
            'mongo.bulk {"collection":"users","requests":[{"kind":"update","filter":{"_id":"?"},"update":{"$set":{"n":"?"}}}]}',
        ),
    ],
)
def test_an_op_shows_its_shape_and_no_value(op: object, shown: str) -> None:
    out = redact.describe(op, True)  # type: ignore[arg-type]
    assert out == shown
    assert SECRET not in out


def test_a_sqlalchemy_statement_shows_its_compiled_text_without_values() -> None:
    from sqlalchemy import column, select, table

    users = table("users", column("id"), column("email"))
    statement = select(users.c.email).where(users.c.id == SECRET)
    out = redact.describe(Statement(statement), True)
    assert out.startswith('pg.statement {"statement":"SELECT users.email')
    assert SECRET not in out


def test_without_redaction_values_show() -> None:
    assert redact.describe(Put(table="t", key="k1", values={"a": SECRET}), False) == (
        f'put {{"table":"t","key":"k1","values":{{"a":"{SECRET}"}}}}'
    )
    assert redact.command(["SET", "k", SECRET], False) == f"SET k {SECRET}"


def test_a_password_never_shows_even_without_redaction() -> None:
    statement = SQL(f"alter role app password '{SECRET}'")
    assert redact.describe(statement, False) == 'pg.sql {"text":"alter role app password ?"}'
    assert redact.describe(Command(["CONFIG", "SET", "requirepass", SECRET]), False) == (
        'redis.command {"args":"CONFIG ? ? ?"}'
    )
    assert redact.describe(Pipeline([["GET", "k"], ["CONFIG", "SET", "masterauth", SECRET]]), False) == (
        'redis.pipeline {"commands":["GET ?","CONFIG ? ? ?"]}'
    )
    assert redact.command(["AUTH", "user", SECRET], False) == "AUTH ? ?"
