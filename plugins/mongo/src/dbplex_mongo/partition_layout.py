"""Which layout a MongoDB partition spec gets, and why: ``layout = "auto"`` decided against the server.

``auto`` is a time series where the server makes time-series collections and one collection per
period elsewhere (MongoDB before 5.0, the nx-27017 stand-in, look-alikes that accept the command
and make a regular collection). What the database already holds decides first, so a choice
sticks once made: a target that is a time series stays one, and per-period collections that
exist stay the layout even after the server is upgraded (their documents would have to move).
Only a target with neither asks the server, once per partitioner: :func:`probe_timeseries`
creates a time-series collection under a scratch name, reads back what ``listCollections``
says it is, and drops it. A server that says "version 4.4" is believed without a probe.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database
from pymongo.errors import OperationFailure

from dbplex.partition.naming import from_name
from dbplex.partition.spec import PartitionSpec
from dbplex_mongo.partition_options import LayoutName, MongoPartitionOptions

Doc = dict[str, Any]
#: scratch collections of the probe are named this, then 12 random hex digits (hosts probing at
#: once do not collide); one left behind by a killed process holds nothing and may be dropped.
PROBE_PREFIX = "dbplex_timeseries_probe_"
#: the answers to a time-series ``create`` that mean "no such feature here" (InvalidOptions,
#: CommandNotSupported, NotImplemented, IDLUnknownField); any other failure (no privilege, not
#: the primary) is an error, never taken as a lack of time series.
NOT_SUPPORTED = frozenset({72, 115, 238, 40415})
_VERSION = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True)
class TimeSeriesSupport:
    """Whether a server makes time-series collections, and how that was found out."""

    makes_timeseries: bool
    #: a clause for messages: "MongoDB 7.0.4 makes time-series collections".
    why: str


@dataclass(frozen=True)
class LayoutChoice:
    """The layout a spec gets on this server, and the reason ``plan`` and ``status`` show."""

    name: LayoutName
    reason: str


def declared(spec: PartitionSpec, options: MongoPartitionOptions) -> LayoutChoice | None:
    """The layout the spec names, or its strategy's default; None for ``auto``."""
    if options.layout == "auto":
        return None
    name = options.layout_for(spec)
    assert name != "auto"
    if options.layout is not None:
        return LayoutChoice(name, f'the spec says layout = "{name}"')
    return LayoutChoice(name, f"no layout given: the default for {spec.strategy} partitions")


def choose(
    spec: PartitionSpec,
    options: MongoPartitionOptions,
    collections: Mapping[str, Doc],
    support: Callable[[], TimeSeriesSupport],
) -> LayoutChoice:
    """The layout of ``spec`` given the server's ``collections`` (``listCollections`` by name);
    ``support`` is asked only when the spec is ``auto`` and the database has not decided yet."""
    found = declared(spec, options) or settled(spec, collections)
    if found is not None:
        return found
    answer = support()
    if answer.makes_timeseries:
        return LayoutChoice("timeseries", f"time series: {answer.why}")
    return LayoutChoice("collections", f"{per_period(spec)}: {answer.why}")


def settled(spec: PartitionSpec, collections: Mapping[str, Doc]) -> LayoutChoice | None:
    """The layout the database already holds for ``spec``: a time-series target, or per-period
    collections; None when it holds neither."""
    if collections.get(spec.target, {}).get("type") == "timeseries":
        return LayoutChoice("timeseries", f"time series: {spec.target!r} is a time-series collection already")
    periods = sorted(p.name for p in (from_name(spec, name) for name in collections) if p is not None)
    if periods:
        held = periods[0] if len(periods) == 1 else f"{periods[0]} ... {periods[-1]}"
        return LayoutChoice(
            "collections",
            f"{per_period(spec)}: {len(periods)} of them exist already ({held}), and a time series "
            "would not see their documents",
        )
    return None


def per_period(spec: PartitionSpec) -> str:
    """``one collection per day`` (``per 3 months`` for a wider interval)."""
    interval = (spec.interval or "").strip()
    return f"one collection per {interval[2:] if interval.startswith('1 ') else interval}"


def probe_timeseries(db: Database[Doc]) -> TimeSeriesSupport:
    """Ask the server whether it makes time-series collections (see the module docstring).
    Raises pymongo's errors for anything but a clear answer."""
    build = db.client.admin.command("buildInfo")
    server = _server(build)
    version = _VERSION.match(str(build.get("version", "")))
    if version is not None and (int(version[1]), int(version[2])) < (5, 0):
        return TimeSeriesSupport(False, f"{server} makes no time-series collections (MongoDB 5.0+ does)")
    name = PROBE_PREFIX + uuid.uuid4().hex[:12]
    try:
        db.command({"create": name, "timeseries": {"timeField": "at"}})
    except OperationFailure as exc:
        if exc.code not in NOT_SUPPORTED:
            raise
        return TimeSeriesSupport(False, f"{server} refuses time-series collections (code {exc.code})")
    try:
        made = next((c.get("type") for c in db.list_collections(filter={"name": name}) if c["name"] == name), None)
    finally:
        db.drop_collection(name)
    if made == "timeseries":
        return TimeSeriesSupport(True, f"{server} makes time-series collections")
    return TimeSeriesSupport(
        False,
        f"{server} makes no time-series collections (it accepted a time-series `create` "
        f"and made a collection of type {made!r})",
    )


def _server(build: Mapping[str, Any]) -> str:
    """``MongoDB 7.0.4``, or ``nx_27017 (reporting version 7.0.0)`` for a server that names itself."""
    version = build.get("version", "of unknown version")
    process = build.get("process")
    if isinstance(process, str) and process not in ("mongod", "mongos"):
        return f"this server ({process}, reporting version {version})"
    return f"MongoDB {version}"
