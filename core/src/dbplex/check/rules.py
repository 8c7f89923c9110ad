"""The rules of ``dbplex check``, as written in ``[checks.NAME]`` tables (``dbplex.toml`` or a
``--checks`` file), validated like the rest of the configuration.

Each rule has a ``kind``. Places are written ``SOURCE.TABLE`` and fields ``SOURCE.TABLE.FIELD``
(a MongoDB field may be a dotted path); a Redis key family is a pattern ending in ``*``:
``cache.cache:teams:*`` is the family's keys (the part ``*`` matches is each record's key) and
``cache.cache:teams:*.name`` a field of its hashes or JSON objects.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from dbplex.partition.interval import Interval

Fields = Annotated[list[str], msgspec.Meta(min_length=1)]
_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
_PLACE = re.compile(rf"(?P<source>{_NAME})\.(?P<table>[^.*\s]+\*|[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<field>[^\s]+))?")


class Address(msgspec.Struct, frozen=True):
    """A parsed place: source, table (or key pattern) and, for a field, the field."""

    source: str
    table: str
    field: str | None = None

    @property
    def family(self) -> bool:
        """A Redis-style key family (a pattern ending in ``*``)."""
        return self.table.endswith("*")

    def __str__(self) -> str:
        return ".".join(p for p in (self.source, self.table, self.field) if p)


def address(text: str, what: str, *, field: bool) -> Address:
    """Parse ``SOURCE.TABLE`` (``field=False``) or ``SOURCE.TABLE.FIELD`` (``field=True``; for a
    key family the field may be left out, meaning the key); ValueError says what is wrong."""
    match = _PLACE.fullmatch(text)
    if match is None:
        form = "SOURCE.TABLE.FIELD or SOURCE.PATTERN*" if field else "SOURCE.TABLE or SOURCE.PATTERN*"
        raise ValueError(f"`{what}` is {text!r}, expected {form}")
    found = Address(match["source"], match["table"], match["field"])
    if not field and found.field is not None:
        raise ValueError(f"`{what}` is {text!r}: name a table, collection or key pattern, not a field")
    if field and found.field is None and not found.family:
        raise ValueError(f"`{what}` is {text!r}: name the field too (SOURCE.TABLE.FIELD)")
    return found


class _Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"):
    #: one line shown with the rule's result.
    description: str = ""

    def places(self) -> list[Address]:
        """Every place the rule reads, parsed (raises ValueError naming the bad field)."""
        raise NotImplementedError


class _TargetRule(_Rule, frozen=True, kw_only=True):
    #: ``SOURCE.TABLE``: the table, collection or key family the rule is about.
    target: str
    #: the field offending rows are reported by; default the table's key.
    key: str | None = None

    def places(self) -> list[Address]:
        return [address(self.target, "target", field=False)]


class Reference(_Rule, frozen=True, kw_only=True, tag="reference"):
    """Every value of ``from`` exists as a value of ``to`` (no orphans)."""

    from_: str = msgspec.field(name="from")
    to: str
    #: the field orphans are reported by, on the ``from`` side; default its table's key.
    key: str | None = None

    def places(self) -> list[Address]:
        return [address(self.from_, "from", field=True), address(self.to, "to", field=True)]


class Missing(_TargetRule, frozen=True, kw_only=True, tag="missing"):
    """None of ``fields`` is null or absent."""

    fields: Fields


class Duplicate(_TargetRule, frozen=True, kw_only=True, tag="duplicate"):
    """No two rows share the same values of ``fields`` (rows where one is null are not compared)."""

    fields: Fields


class Invalid(_TargetRule, frozen=True, kw_only=True, tag="invalid"):
    """Every non-null value of ``field`` is valid: in ``values``, within ``min``..``max``,
    matching ``regex`` (a full match), of ``type``; a row failing any of them fails."""

    field: str
    values: list[str | int | bool] | None = None
    min: int | float | None = None
    max: int | float | None = None
    regex: str | None = None
    type: Literal["str", "int", "float", "bool"] | None = None

    def __post_init__(self) -> None:
        if self.values is None and self.min is None and self.max is None and self.regex is None and self.type is None:
            raise ValueError("an invalid rule needs `values`, `min`, `max`, `regex` or `type`")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"`regex` {self.regex!r} is not a regular expression: {exc}") from None


class Freshness(_TargetRule, frozen=True, kw_only=True, tag="freshness"):
    """The newest timestamp in ``field`` is at most ``within`` old (``"1 day"``, ``"6 hours"``)."""

    field: str
    within: str

    def __post_init__(self) -> None:
        interval = Interval.parse(self.within)
        if interval.months:
            raise ValueError(f"`within` {self.within!r}: use minutes, hours, days or weeks")

    @property
    def seconds(self) -> int:
        return Interval.parse(self.within).seconds


class RowCount(_TargetRule, frozen=True, kw_only=True, tag="row_count"):
    """The number of rows is within ``min``..``max``."""

    min: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max: Annotated[int, msgspec.Meta(ge=0)] | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError("a row_count rule needs `min` or `max`")


class Mirror(_Rule, frozen=True, kw_only=True, tag="mirror"):
    """``target`` holds the same records as ``source``: same keys, and equal values of the
    mapped fields (compared by canonical text, see :mod:`dbplex.check.canonical`)."""

    #: ``SOURCE.TABLE`` of the original.
    source: str
    #: ``SOURCE.TABLE`` of the copy.
    target: str
    #: the original's key field (default its table's key).
    key: str | None = None
    #: the copy's field holding that key (default the copy's key).
    target_key: str | None = None
    #: original field -> copy field, the values compared; empty compares keys alone.
    fields: dict[str, str] = {}
    #: when both sides are ordered, ``int`` keys are bisected by value ranges and ``str`` keys by
    #: ranges of their text cut at every n-th key (both sides holding text only; otherwise the
    #: original is streamed and its keys looked up in the copy).
    key_type: Literal["int", "str"] = "int"
    #: the copy's field holding a list of records rather than one record (a cached schedule's
    #: ``games``): each element is a record of the original, keyed by its ``target_key`` field.
    nested: str | None = None

    def __post_init__(self) -> None:
        if self.nested is not None and self.target_key is None:
            raise ValueError(
                "a mirror with `nested` needs `target_key`: the field of each nested record holding its key"
            )

    def places(self) -> list[Address]:
        return [address(self.source, "source", field=False), address(self.target, "target", field=False)]


Rule = Reference | Missing | Duplicate | Invalid | Freshness | RowCount | Mirror
KINDS = ("reference", "missing", "duplicate", "invalid", "freshness", "row_count", "mirror")
