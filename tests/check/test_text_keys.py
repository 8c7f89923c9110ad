"""Mirrors keyed by text: a PostgreSQL table with a text primary key and a MongoDB collection
with string ``_id``s are bisected by key text, and every planted difference is found exactly,
on keys whose code-point order differs from a locale's (case, accents, other scripts)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import dbplex
from dbplex.check import engine
from dbplex.config import from_dict

ROWS = 3000
#: keys a locale orders otherwise than code points do, among the plain ones.
ODD = ["Zoë", "apple", "Äpfel", "zebra", "ß", "日本", "a b", "A", "k0", "k00001x"]
MISSING = ["k00005", "k01500", "Äpfel"]  # in PostgreSQL only
EXTRA = ["k99999", "zz-extra", "Éclair"]  # in MongoDB only
DIFFERENT = ["k02000", "日本"]


@pytest.fixture
def places(dbplex_servers: Any) -> Iterator[dict[str, Any]]:
    """``t`` in PostgreSQL (text key) and MongoDB (string ``_id``), holding the planted differences."""
    table = f"txt_{uuid.uuid4().hex[:10]}"
    sources = {"pg": {"url": dbplex_servers.url("pg")}, "docs": {"url": dbplex_servers.url("mongo")}}
    rows = [(f"k{i:05d}", f"name {i}", i) for i in range(ROWS)] + [(k, f"odd {k}", len(k)) for k in ODD]
    with dbplex.open({"sources": sources}) as hub:
        with hub.connection("pg") as conn:
            conn.execute(f'CREATE TABLE "{table}" (id text PRIMARY KEY, name text, n integer)')
            with conn.cursor().copy(f'COPY "{table}" (id, name, n) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
        copied = [(k, name + "!" if k == DIFFERENT[0] else name, n + (k == DIFFERENT[1])) for k, name, n in rows]
        documents = [{"_id": k, "name": name, "n": n} for k, name, n in copied if k not in MISSING]
        documents += [{"_id": k, "name": "extra", "n": 0} for k in EXTRA]
        with hub.connection("docs") as db:
            db[table].insert_many(documents)
        try:
            yield {"sources": sources, "table": table}
        finally:
            with hub.connection("pg") as conn:
                conn.execute(f'DROP TABLE "{table}"')
                conn.commit()
            with hub.connection("docs") as db:
                db[table].drop()


def test_a_mirror_keyed_by_text_is_bisected_and_finds_every_difference_exactly(places: dict[str, Any]) -> None:
    table = places["table"]
    rule = {
        "kind": "mirror",
        "source": f"pg.{table}",
        "target": f"docs.{table}",
        "fields": {"name": "name", "n": "n"},
        "key_type": "str",
    }
    config = from_dict({"sources": places["sources"], "checks": {"text": rule}})
    with dbplex.open(config) as hub:
        (result,) = engine.run(hub, config.checks, sample=100).checks
    assert result.method == "bisection"
    assert (result.missing.sample, result.extra.sample, result.different.sample) == (
        sorted(MISSING),
        sorted(EXTRA),
        sorted(DIFFERENT),
    )
    assert (result.missing.count, result.extra.count, result.different.count) == (3, 3, 2)
    pg, docs = f"pg.{table}", f"docs.{table}"
    assert result.rows == {pg: ROWS + len(ODD), docs: ROWS + len(ODD) - len(MISSING) + len(EXTRA)}
    # once for the checksums, once for the cut points (keys only), once for the differing leaves
    assert result.reads[pg] <= 3 * result.rows[pg] and result.reads[docs] <= 3 * result.rows[docs]
