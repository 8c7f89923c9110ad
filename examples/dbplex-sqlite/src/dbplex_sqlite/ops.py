"""The backend's own op: plain SQL, for whatever the uniform record ops cannot say."""

from __future__ import annotations

from typing import Any

import msgspec
from dbplex.ops import Op


class Execute(Op, frozen=True, tag="sqlite.execute"):
    """Run one SQL statement with ``?`` parameters.

    Rows come back as dicts by column name; ``affected`` is the number of rows changed, or
    None for a statement that changes none (a SELECT).
    """

    sql: str
    params: list[Any] = msgspec.field(default_factory=list)
