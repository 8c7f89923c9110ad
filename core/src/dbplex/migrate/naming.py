"""Migration file names, versions and references.

``V<version>__<description>.<format>`` is a versioned migration and ``R__<description>.<format>``
a repeatable one. A version is dot- or underscore-separated integers (``0001``, ``1.2``,
``2024_05_01``) compared numerically, so ``V0003`` and ``V3`` are the same version and
``V1.10`` comes after ``V1.9``. A migration's *id* within its source is ``V<canonical version>``
or ``R__<description>``; a *ref* adds the source: ``docs:V0003``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VersionKey = tuple[int, ...]

_VERSIONED = re.compile(r"V(?P<version>\d+(?:[._]\d+)*)__(?P<description>\w+)\.(?P<format>[a-z]+)")
_REPEATABLE = re.compile(r"R__(?P<description>\w+)\.(?P<format>[a-z]+)")
_VERSION = re.compile(r"[Vv]?(?P<version>\d+(?:[._]\d+)*)")
_REF = re.compile(r"(?:(?P<source>[A-Za-z_][A-Za-z0-9_\-]*):)?(?P<id>.+)")

NAMING_RULE = "V<version>__<description>.<format> or R__<description>.<format>"


@dataclass(frozen=True)
class FileName:
    """What a migration's file name says."""

    kind: str  # "versioned" or "repeatable"
    version: str | None  # as written, without the V
    description: str
    format: str  # the suffix: "sql", "py"

    @property
    def id(self) -> str:
        return version_id(self.version) if self.version is not None else repeatable_id(self.description)


def parse_file_name(name: str) -> FileName | None:
    """The parts of a migration file name, or None when it follows neither pattern."""
    match = _VERSIONED.fullmatch(name)
    if match:
        return FileName("versioned", match["version"], match["description"], match["format"])
    match = _REPEATABLE.fullmatch(name)
    if match:
        return FileName("repeatable", None, match["description"], match["format"])
    return None


def version_key(version: str) -> VersionKey:
    """``"0001"`` -> ``(1,)``, ``"1.2.0"`` -> ``(1, 2)``: trailing zero parts do not count."""
    parts = [int(p) for p in re.split(r"[._]", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def version_id(version: str) -> str:
    """The canonical id of a version: ``"0003"`` -> ``"V3"``, ``"1_2"`` -> ``"V1.2"``."""
    return "V" + ".".join(str(p) for p in version_key(version))


def repeatable_id(description: str) -> str:
    return f"R__{description}"


def parse_version(text: str) -> VersionKey | None:
    """A version given on the command line (``V0003``, ``3``, ``1.2``), or None when it is not one."""
    match = _VERSION.fullmatch(text.strip())
    return version_key(match["version"]) if match else None


@dataclass(frozen=True, order=True)
class Ref:
    """A migration in some source: ``source`` and its id (``V3`` or ``R__views``)."""

    source: str
    id: str

    def __str__(self) -> str:
        return f"{self.source}:{self.id}"


def parse_ref(text: str, default_source: str | None) -> Ref | None:
    """``"docs:V0003"`` or ``"V0003"`` (in ``default_source``) as a :class:`Ref`; None when malformed."""
    match = _REF.fullmatch(text.strip())
    if not match:
        return None
    source = match["source"] or default_source
    if source is None:
        return None
    body = match["id"]
    if body.startswith("R__") and len(body) > 3:
        return Ref(source, body)
    key = parse_version(body)
    if key is None:
        return None
    return Ref(source, "V" + ".".join(str(p) for p in key))


def next_version(versions: list[str]) -> str:
    """The version after the highest of ``versions`` (as written, without the V), in its style:
    ``0003`` -> ``0004``, ``1.9`` -> ``1.10``, ``2024_05_01`` -> ``2024_05_02``; ``0001`` when none."""
    if not versions:
        return "0001"
    highest = max(versions, key=version_key)
    last = re.search(r"\d+$", highest)
    if last is None:
        raise ValueError(f"not a version: {highest!r}")
    return f"{highest[: last.start()]}{int(last[0]) + 1:0{len(last[0])}d}"
