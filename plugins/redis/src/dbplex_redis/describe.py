"""Redis's :class:`~dbplex.schema.model.Describer`: the fields of a hash key family, sampled.

A family is a ``prefix*`` pattern, as for ``dbplex check`` (raw keys: the source's record
``prefix`` does not apply). Up to N keys are found with ``SCAN`` and read with ``HGETALL`` in
one pipeline; keys of other types are skipped (said in a note). Every value is text, so types
are inferred from what the values spell (:func:`dbplex.schema.infer.of_text`) and a field of
any type fits a family; Redis keeps no schema, so there is no migration to propose.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

from dbplex.analyze.model import MigrationFile
from dbplex.backends import Source
from dbplex.errors import ConfigError
from dbplex.pool import Pool
from dbplex.schema import infer
from dbplex.schema.model import FieldShape, PortableType, TableShape
from dbplex_redis.check import family_of


class RedisDescriber:
    """Reads through the source's pool (a redis-py client)."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool

    def describe(self, table: str, sample: int) -> TableShape:
        prefix = family_of(self.source, table).prefix
        with self.pool.connection() as client:
            keys = list(islice(client.scan_iter(match=f"{prefix}*", count=max(sample, 100)), sample))
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.type(key)
                pipe.hgetall(key)
            replies = pipe.execute(raise_on_error=False)
        if not keys:
            raise ConfigError(f"source {self.source.name!r}: no key matches {table!r}")
        seen: dict[str, list[PortableType]] = {}
        hashes = 0
        for kind, values in zip(replies[::2], replies[1::2], strict=True):
            if kind not in (b"hash", "hash") or not isinstance(values, dict):
                continue
            hashes += 1
            for name, value in values.items():
                text = value.decode() if isinstance(value, bytes) else str(value)
                seen.setdefault(name.decode() if isinstance(name, bytes) else str(name), []).append(infer.of_text(text))
        notes = [f"{table}: fields and types inferred from the text of {hashes} sampled hashes"]
        if hashes < len(keys):
            notes.append(f"{table}: {len(keys) - hashes} sampled keys are not hashes and were skipped")
        fields = [
            FieldShape(name=name, type=infer.merge(types, textual=True), source_type="hash field")
            for name, types in seen.items()
        ]
        return TableShape(
            source=self.source.name, table=table, fields=fields, textual=True, sampled=hashes, notes=notes
        )

    def migration(self, table: str, wanted: Sequence[FieldShape]) -> MigrationFile | None:
        return None
