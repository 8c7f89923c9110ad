"""``[sources.NAME.options]`` of a SQLite source, validated by dbplex when the source is bound."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class SqliteOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Settings of a SQLite source."""

    #: the database's journal mode; WAL lets readers go on while one connection writes.
    journal_mode: Literal["wal", "delete", "truncate", "persist"] = "wal"
    #: seconds a statement waits for another connection's write lock before it fails.
    busy_timeout: Annotated[float, msgspec.Meta(ge=0)] = 5.0
