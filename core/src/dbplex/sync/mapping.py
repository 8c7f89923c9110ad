"""What ``dbplex sync --map FILE`` says: the source's key, the fields copied (and their names in
the target) and the watermark column ``--since`` compares against. Without a map, :func:`derive`
makes one of the source's described fields.

The field mapping is the mirror rule's (:class:`dbplex.check.rules.Mirror`): original field ->
copy field, so the mirror check that ends a sync compares exactly what was copied.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated

import msgspec

from dbplex.errors import ConfigError, InvalidValue
from dbplex.schema.model import TableShape
from dbplex.values import check_fields

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class SyncMap(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A sync's mapping, as the ``--map`` TOML file holds it."""

    #: the source's key field (default the table's own key: PostgreSQL's primary key, ``_id``).
    key: str | None = None
    #: source field -> target field; a list copies fields under their own names.
    fields: Annotated[dict[str, str], msgspec.Meta(min_length=1)] | Annotated[list[str], msgspec.Meta(min_length=1)]
    #: the column ``--since`` compares with (``watermark >= value``); needed for ``--since``.
    watermark: str | None = None

    @property
    def renames(self) -> dict[str, str]:
        """Source field -> target field, in the order given."""
        return dict(self.fields) if isinstance(self.fields, dict) else {f: f for f in self.fields}

    def digest(self) -> str:
        """A short hash of the mapping: a checkpoint written under another mapping is not resumed."""
        return hashlib.sha256(msgspec.json.encode(self)).hexdigest()[:16]


def load(path: str) -> SyncMap:
    """The mapping in ``path``; a :class:`ConfigError` names what is wrong."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: map file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the map: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    try:
        found = msgspec.convert(data, SyncMap)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    return _checked(found, str(file))


def derive(shape: TableShape, watermark: str | None = None) -> SyncMap:
    """The map of a sync without ``--map``: every described field but the key, under its own name,
    keyed by the table's own key. Its digest holds the field list, so a checkpoint written before
    the table changed is not resumed."""
    fields = [f.name for f in shape.fields if f.name != shape.key]
    if shape.sampled:  # sampled in no set order: sorted, the same fields give the same digest
        fields.sort()
    where = f"{shape.source}.{shape.table}"
    if not fields:
        raise ConfigError(f"{where}: no fields besides its key to copy; give them with --map FILE")
    if watermark is not None and watermark not in fields:
        raise ConfigError(f"--watermark {watermark!r}: {where} has no such field (it has {', '.join(fields)})")
    return _checked(SyncMap(fields=fields, watermark=watermark), where)


def _checked(found: SyncMap, where: str) -> SyncMap:
    """``found``, once its target field names are known to be storable in a uniform record."""
    try:
        check_fields(found.renames.values())
    except InvalidValue as exc:
        raise ConfigError(f"{where}: target field names: {exc}") from None
    return found
