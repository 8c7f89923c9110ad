"""YCSB core workloads: the properties, their defaults, validation, and the built-in A–F.

A workload comes from a built-in name (``a``–``f``) or a YCSB properties file, then ``-p
name=value`` overrides, as in YCSB. Every property is checked by name: an unknown one (a typo)
is an error that names it and suggests the closest known one, because a silently ignored
``readproprtion`` would benchmark something else than intended.

The keys are YCSB's ``CoreWorkload`` keys with YCSB's defaults, plus a few of ours, marked
*dbplex* below. Client keys (``threadcount``, ``target``, ``maxexecutiontime``) are kept apart
from the workload: they say how to run it, not what it is, so they are not part of its hash.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from dbplex.bench import properties
from dbplex.errors import ConfigError, OpError
from dbplex.ops import check_table

#: YCSB's own spelling of the core workload class; files name it, we implement only that one.
CORE_WORKLOAD_CLASSES = frozenset({"site.ycsb.workloads.CoreWorkload", "com.yahoo.ycsb.workloads.CoreWorkload"})

#: YCSB client and measurement keys that mean nothing here (we always keep HdrHistograms).
#: They are accepted, so that YCSB's files run unchanged, and listed as ignored in the result.
IGNORED_KEYS = frozenset(
    {
        "db",
        "exporter",
        "exportfile",
        "measurementtype",
        "measurement.interval",
        "measurement.trackjvm",
        "histogram.buckets",
        "hdrhistogram.percentiles",
        "hdrhistogram.fileoutput",
        "hdrhistogram.output.path",
        "timeseries.granularity",
        "reportlatencyforeacherror",
        "status.interval",
        "core_workload_insertion_retry_limit",
        "core_workload_insertion_retry_interval",
    }
)

#: the default warm-up is a tenth of the run, at most this many operations: enough to open every
#: connection and warm the server's caches without doubling a long run.
WARMUP_CAP = 10_000

#: YCSB keys whose feature dbplex bench does not have: refused with the reason rather than ignored.
UNSUPPORTED_KEYS = {
    "dataintegrity": "values are not verified on read",
    "fieldlengthhistogram": "field lengths come from fieldlengthdistribution (constant, uniform, zipfian)",
    "exponential.percentile": "the exponential request distribution is not implemented",
    "exponential.frac": "the exponential request distribution is not implemented",
}

PROPORTIONS = (
    "readproportion",
    "updateproportion",
    "insertproportion",
    "scanproportion",
    "readmodifywriteproportion",
    "deleteproportion",
)

REQUEST_DISTRIBUTIONS = ("uniform", "zipfian", "latest", "hotspot")
LENGTH_DISTRIBUTIONS = ("constant", "uniform", "zipfian")
SCAN_DISTRIBUTIONS = ("uniform", "zipfian")
INSERT_ORDERS = ("hashed", "ordered")


class Workload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A resolved workload: every property with its value, defaults filled in."""

    table: str = "usertable"
    recordcount: int = 1000
    operationcount: int = 1000
    fieldcount: int = 10
    fieldlength: int = 100
    minfieldlength: int = 1
    fieldlengthdistribution: str = "constant"
    fieldnameprefix: str = "field"
    readallfields: bool = True
    readallfieldsbyname: bool = False
    writeallfields: bool = False
    readproportion: float = 0.95
    updateproportion: float = 0.05
    insertproportion: float = 0.0
    scanproportion: float = 0.0
    readmodifywriteproportion: float = 0.0
    #: *dbplex*: share of Delete ops (YCSB has none).
    deleteproportion: float = 0.0
    requestdistribution: str = "uniform"
    minscanlength: int = 1
    maxscanlength: int = 1000
    scanlengthdistribution: str = "uniform"
    insertorder: str = "hashed"
    insertstart: int = 0
    #: records this client loads, from ``insertstart`` on; YCSB's default is all that remain.
    insertcount: int = 1000
    zeropadding: int = 1
    hotspotdatafraction: float = 0.2
    hotspotopnfraction: float = 0.8
    #: *dbplex*: operations run before the measured run and discarded (YCSB has no warm-up);
    #: default a tenth of ``operationcount``, at most ``WARMUP_CAP``.
    warmupoperationcount: int = 100
    #: *dbplex*: records per round trip while loading (a Redis pipeline, a MongoDB bulk write).
    insertbatchsize: int = 1
    #: *dbplex*: seed of every random stream, so that key sequences repeat run after run.
    seed: int = 1

    @property
    def hash(self) -> str:
        """SHA-256 of the resolved properties: equal hashes mean the same workload."""
        return hashlib.sha256(msgspec.json.encode(msgspec.to_builtins(self), order="sorted")).hexdigest()

    @property
    def field_names(self) -> list[str]:
        return [f"{self.fieldnameprefix}{i}" for i in range(self.fieldcount)]


class Client(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """YCSB client keys a workload file may set: how to run it. Command-line options override them."""

    threadcount: int = 1
    #: total operations per second to aim at (open loop); 0 runs as fast as possible (closed loop).
    target: float = 0.0
    #: seconds after which the run phase stops even if operations remain; 0 means no limit.
    maxexecutiontime: float = 0.0


class Resolved(msgspec.Struct, frozen=True, kw_only=True):
    """What ``--workload`` and ``-p`` resolved to, as stored in every result."""

    #: the built-in name (``workloada``) or the file path given.
    name: str
    workload: Workload
    client: Client
    #: YCSB keys that were set but have no effect here.
    ignored: dict[str, str] = {}
    hash: str = ""


class _Invalid(ValueError):
    """A property value that does not fit; the message says what would."""


def _integer(minimum: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise _Invalid(f"expected an integer >= {minimum}") from None
        if value < minimum:
            raise _Invalid(f"must be at least {minimum}")
        return value

    return convert


def _number(low: float, high: float | None = None) -> Callable[[str], float]:
    expected = f"a number between {low:g} and {high:g}" if high is not None else f"a number >= {low:g}"

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _Invalid(f"expected {expected}") from None
        if not (value >= low and (high is None or value <= high)):
            raise _Invalid(f"must be {expected}")
        return value

    return convert


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise _Invalid("must be true or false")
    return lowered == "true"


def _choice(*allowed: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in allowed:
            raise _Invalid(f"must be one of {', '.join(allowed)}")
        return text

    return convert


def _table(text: str) -> str:
    try:
        check_table(text)
    except OpError:
        raise _Invalid("must be an identifier of letters, digits and _ (at most 63)") from None
    return text


_FRACTION = _number(0.0, 1.0)
_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "table": _table,
    "recordcount": _integer(0),
    "operationcount": _integer(0),
    "fieldcount": _integer(1),
    "fieldlength": _integer(1),
    "minfieldlength": _integer(1),
    "fieldlengthdistribution": _choice(*LENGTH_DISTRIBUTIONS),
    "fieldnameprefix": str,
    "readallfields": _boolean,
    "readallfieldsbyname": _boolean,
    "writeallfields": _boolean,
    **dict.fromkeys(PROPORTIONS, _FRACTION),
    "requestdistribution": _choice(*REQUEST_DISTRIBUTIONS),
    "minscanlength": _integer(1),
    "maxscanlength": _integer(1),
    "scanlengthdistribution": _choice(*SCAN_DISTRIBUTIONS),
    "insertorder": _choice(*INSERT_ORDERS),
    "insertstart": _integer(0),
    "insertcount": _integer(0),
    "zeropadding": _integer(1),
    "hotspotdatafraction": _FRACTION,
    "hotspotopnfraction": _FRACTION,
    "warmupoperationcount": _integer(0),
    "insertbatchsize": _integer(1),
    "seed": _integer(0),
    "threadcount": _integer(1),
    "target": _number(0.0),
    "maxexecutiontime": _number(0.0),
}
_CLIENT_KEYS = frozenset(Client.__struct_fields__)
KNOWN_KEYS = frozenset({*_CONVERTERS, "workload", *IGNORED_KEYS})

#: The canonical YCSB core workloads; ``benchmarks/workloads/workloada`` … hold the same as files.
BUILTIN: dict[str, dict[str, str]] = {
    name: {
        "recordcount": "1000",
        "operationcount": "1000",
        "workload": "site.ycsb.workloads.CoreWorkload",
        "readallfields": "true",
        **props,
    }
    for name, props in {
        "workloada": {
            "readproportion": "0.5",
            "updateproportion": "0.5",
            "scanproportion": "0",
            "insertproportion": "0",
            "requestdistribution": "zipfian",
        },
        "workloadb": {
            "readproportion": "0.95",
            "updateproportion": "0.05",
            "scanproportion": "0",
            "insertproportion": "0",
            "requestdistribution": "zipfian",
        },
        "workloadc": {
            "readproportion": "1",
            "updateproportion": "0",
            "scanproportion": "0",
            "insertproportion": "0",
            "requestdistribution": "zipfian",
        },
        "workloadd": {
            "readproportion": "0.95",
            "updateproportion": "0",
            "scanproportion": "0",
            "insertproportion": "0.05",
            "requestdistribution": "latest",
        },
        "workloade": {
            "readproportion": "0",
            "updateproportion": "0",
            "scanproportion": "0.95",
            "insertproportion": "0.05",
            "requestdistribution": "zipfian",
            "maxscanlength": "100",
            "scanlengthdistribution": "uniform",
        },
        "workloadf": {
            "readproportion": "0.5",
            "updateproportion": "0",
            "scanproportion": "0",
            "insertproportion": "0",
            "readmodifywriteproportion": "0.5",
            "requestdistribution": "zipfian",
        },
    }.items()
}


def builtin_name(name: str) -> str | None:
    """``workloada`` for ``a``, ``A``, ``workloada``; None for anything else."""
    lowered = name.lower()
    candidate = lowered if lowered.startswith("workload") else f"workload{lowered}"
    return candidate if candidate in BUILTIN else None


def load(name_or_path: str, overrides: Mapping[str, str] | None = None) -> Resolved:
    """Resolve ``--workload`` (a name A–F or a file) and ``-p`` overrides into a checked workload."""
    builtin = builtin_name(name_or_path)
    if builtin is not None:
        located = [(key, value, f"built-in {builtin}") for key, value in BUILTIN[builtin].items()]
        name = builtin
    else:
        path = Path(name_or_path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"workload {name_or_path!r}: not a built-in workload (a, b, c, d, e, f) and no such file"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"workload {name_or_path!r}: cannot read it: {exc}") from None
        located = [(key, value, f"{path} line {line}") for key, value, line in properties.parse(text, str(path))]
        name = str(path)
    located += [(key, value, f"-p {key}") for key, value in (overrides or {}).items()]
    return resolve(name, located)


def resolve(name: str, located: list[tuple[str, str, str]]) -> Resolved:
    """Check ``(key, value, where)`` triples (later ones win) and fill in defaults."""
    raw: dict[str, tuple[str, str]] = {}
    for key, value, where in located:
        if key in UNSUPPORTED_KEYS:
            raise ConfigError(f"workload property {key!r} ({where}) is not supported: {UNSUPPORTED_KEYS[key]}")
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown workload property {key!r} ({where}){hint}")
        raw[key] = (value, where)
    workload_class = raw.pop("workload", None)
    if workload_class is not None and workload_class[0] not in CORE_WORKLOAD_CLASSES:
        raise ConfigError(
            f"workload property 'workload' ({workload_class[1]}): {workload_class[0]!r} is not supported; "
            "dbplex bench runs YCSB's CoreWorkload (site.ycsb.workloads.CoreWorkload)"
        )
    ignored = {key: raw.pop(key)[0] for key in sorted(IGNORED_KEYS & raw.keys())}
    values: dict[str, Any] = {}
    for key, (text, where) in raw.items():
        try:
            values[key] = _CONVERTERS[key](text)
        except _Invalid as exc:
            raise ConfigError(f"workload property {key!r} ({where}): {text!r}: {exc}") from None
    client = Client(**{k: v for k, v in values.items() if k in _CLIENT_KEYS})
    fields = {k: v for k, v in values.items() if k not in _CLIENT_KEYS}
    fields.setdefault("insertcount", fields.get("recordcount", Workload.recordcount) - fields.get("insertstart", 0))
    fields.setdefault(
        "warmupoperationcount", min(fields.get("operationcount", Workload.operationcount) // 10, WARMUP_CAP)
    )
    workload = Workload(**fields)
    _check(workload, client, {k: w for k, (_, w) in raw.items()})
    return Resolved(name=name, workload=workload, client=client, ignored=ignored, hash=workload.hash)


def _check(w: Workload, client: Client, where: dict[str, str]) -> None:
    """Rules between properties; each error names the keys involved."""

    def at(*keys: str) -> str:
        found = [f"{k} ({where[k]})" for k in keys if k in where]
        return ", ".join(found) or ", ".join(keys)

    total = sum(getattr(w, key) for key in PROPORTIONS)
    if abs(total - 1.0) > 1e-9:
        shares = ", ".join(f"{key}={getattr(w, key):g}" for key in PROPORTIONS if getattr(w, key))
        raise ConfigError(
            f"workload proportions add up to {total:g}, not 1: {shares or 'all are 0'}; check {at(*PROPORTIONS)}"
        )
    if w.insertstart + w.insertcount > w.recordcount:
        raise ConfigError(
            f"workload: insertstart ({w.insertstart}) + insertcount ({w.insertcount}) exceeds "
            f"recordcount ({w.recordcount}); check {at('insertstart', 'insertcount', 'recordcount')}"
        )
    if w.minscanlength > w.maxscanlength:
        raise ConfigError(
            f"workload: minscanlength ({w.minscanlength}) exceeds maxscanlength ({w.maxscanlength}); "
            f"check {at('minscanlength', 'maxscanlength')}"
        )
    if w.maxscanlength > 100_000 and w.scanproportion:
        raise ConfigError(
            f"workload property 'maxscanlength' ({w.maxscanlength}): a scan returns at most 100000 records"
        )
    if w.fieldlengthdistribution != "constant" and w.minfieldlength > w.fieldlength:
        raise ConfigError(
            f"workload: minfieldlength ({w.minfieldlength}) exceeds fieldlength ({w.fieldlength}); "
            f"check {at('minfieldlength', 'fieldlength')}"
        )
    if w.recordcount == 0 and (
        w.readproportion or w.updateproportion or w.scanproportion or w.readmodifywriteproportion
    ):
        raise ConfigError("workload: recordcount is 0, so there is nothing to read or update; set recordcount")
    if w.operationcount == 0 and client.maxexecutiontime == 0:
        raise ConfigError(
            "workload: operationcount is 0 and maxexecutiontime is 0, so the run would never end; set one"
        )
