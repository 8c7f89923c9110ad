"""A PostgreSQL ``games`` table of the test's own, a configuration file naming the three servers,
and a map file; every table, collection and key the sync writes is removed afterwards (a sync
into PostgreSQL writes the ``games`` table from a ``copy`` collection or Redis table)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex.ops import Delete
from dbplex.sync.engine import CHECKPOINTS

#: game ``i`` was updated at START + i minutes, so ``--since`` can cut the table anywhere.
START = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)

MAP = """\
key = "id"
watermark = "updated_at"
fields = { venue_id = "venue", starts_at = "starts_at", status = "status", score = "score", updated_at = "updated_at" }
"""


@dataclass
class Setup:
    """The source table, the targets' name and the files the command takes."""

    name: str
    config: Path
    map: Path
    hub: dbplex.Hub

    @property
    def games(self) -> str:
        return f"{self.name}_games"

    @property
    def copy(self) -> str:
        return f"{self.name}_copy"

    def fill(self, rows: int) -> None:
        """``rows`` games, ids 1..rows, one with a null score."""
        with self.hub.connection("pg") as conn:
            conn.execute(
                f"CREATE TABLE {self.games} (id bigint PRIMARY KEY, venue_id bigint, starts_at timestamptz, "
                "status text, score integer, updated_at timestamptz)"
            )
            conn.execute(
                f"INSERT INTO {self.games} SELECT i, i %% 12, %s + i * interval '1 hour', "
                "CASE WHEN i %% 3 = 0 THEN 'final' ELSE 'scheduled' END, "
                "CASE WHEN i = 2 THEN NULL ELSE i %% 7 END, %s + i * interval '1 minute' "
                f"FROM generate_series(1, {rows}) i",
                (START, START),
            )
            conn.commit()

    def record_changes(self) -> None:
        """Record the changes of the games table (``dbplex watch --install``), for ``--follow``."""
        self.hub.change_feed("pg").install(self.games)

    def sql(self, statement: str, *params: Any) -> None:
        with self.hub.connection("pg") as conn:
            conn.execute(statement.format(games=self.games), params)
            conn.commit()


@pytest.fixture
def setup(dbplex_servers: Any, tmp_path: Path) -> Iterator[Setup]:
    name = f"syn_{uuid.uuid4().hex[:10]}"
    config = tmp_path / "dbplex.toml"
    config.write_text(
        f'[sources.pg]\nurl = "{dbplex_servers.url("pg")}"\n'
        f'[sources.docs]\nurl = "{dbplex_servers.url("mongo")}"\n'
        f'[sources.cache]\nurl = "{dbplex_servers.url("redis")}"\n'
    )
    map_file = tmp_path / "map.toml"
    map_file.write_text(MAP)
    hub = dbplex.open(str(config))
    found = Setup(name, config, map_file, hub)
    try:
        yield found
    finally:
        with hub.connection("pg") as conn:
            conn.execute(f"DROP TABLE IF EXISTS {found.games}")
            if conn.execute("SELECT to_regclass('dbplex_changes')").fetchone()[0] is not None:
                conn.execute("DELETE FROM dbplex_changes WHERE table_name = %s", [found.games])
            if conn.execute("SELECT to_regclass('dbplex_sync')").fetchone()[0] is not None:  # syncs into pg
                conn.execute("DELETE FROM dbplex_sync WHERE key LIKE %s", [f"%->pg.{found.games}"])
            conn.commit()
        with hub.connection("docs") as db:
            db[found.copy].drop()
        with hub.connection("cache") as client:
            keys = list(client.scan_iter(match=f"{found.copy}:*"))
            if keys:
                client.delete(*keys)
        for target in ("docs", "cache"):
            hub.execute(target, Delete(table=CHECKPOINTS, key=f"pg.{found.games}->{target}.{found.copy}"))
        hub.close()
