"""The result document of ``dbplex bench run`` and ``sweep``: versioned JSON, read back by report and compare.

Percentiles are stored twice: as numbers, for people and tools that read the JSON, and as the
encoded HdrHistogram they were computed from, so that runs, rounds and processes merge by adding
histograms (never by averaging percentiles) and a report can draw the whole distribution.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

from dbplex.bench.workload import Resolved
from dbplex.errors import ConfigError
from dbplex.secrets import scrub

#: bumped when a field changes meaning or disappears; readers refuse newer versions.
SCHEMA_VERSION = 1

Target = Literal["dbplex", "raw"]


class Summary(msgspec.Struct, kw_only=True, frozen=True):
    """Percentiles of one histogram, in microseconds."""

    count: int = 0
    min_us: int = 0
    mean_us: float = 0.0
    p50_us: int = 0
    p90_us: int = 0
    p95_us: int = 0
    p99_us: int = 0
    p999_us: int = 0
    max_us: int = 0


class Histogram(msgspec.Struct, kw_only=True, frozen=True):
    """A latency distribution: its summary and the HdrHistogram (V2 encoding, base64) behind it."""

    summary: Summary
    encoded: str


class OpStats(msgspec.Struct, kw_only=True, frozen=True):
    """One operation type in one phase.

    ``latency`` is what the caller saw: in open loop it runs from the *intended* start, so a
    stalled server shows up as latency instead of hiding as fewer requests (coordinated
    omission). ``service`` runs from the actual start (open loop only). Failed operations are
    counted in ``errors`` and kept out of the histograms. ``wait``, a per-operation histogram of
    pool wait, is only in results of older versions, whose dbplex side timed its own checkouts;
    pool wait is now :attr:`PhaseStats.pool_wait`.
    """

    op: str
    count: int
    errors: int = 0
    error_types: dict[str, int] = {}
    #: the first message of each error type, secrets scrubbed.
    first_errors: dict[str, str] = {}
    latency: Histogram
    service: Histogram | None = None
    wait: Histogram | None = None


class PoolWait(msgspec.Struct, kw_only=True, frozen=True):
    """How long checkouts waited for a pooled connection during one phase (dbplex side only).

    It comes from the pool's own counters (``PoolStats.wait``, read before and after the phase),
    not from the timed loop: the pool times every checkout anyway, so the benchmark reads the
    same numbers a user's ``pool_stats()`` shows and adds no clock reads of its own.
    """

    checkouts: int = 0
    total_us: float = 0.0
    mean_us: float = 0.0
    max_us: float = 0.0
    #: True when no checkout of this phase waited longer than one before it (the pool keeps one
    #: maximum since it opened): ``max_us`` is then that earlier maximum, an upper bound.
    max_bound: bool = False


class PhaseStats(msgspec.Struct, kw_only=True, frozen=True):
    """One phase (``load``, ``warmup``, ``run``) of one run."""

    phase: str
    #: False when the phase was interrupted (Ctrl-C) or stopped early.
    complete: bool
    #: successful operations (records, when loading).
    ops: int
    errors: int
    duration_s: float
    #: successful operations per second.
    throughput: float
    ops_by_type: dict[str, OpStats] = {}
    #: every operation type merged.
    latency: Histogram | None = None
    #: open loop: how late operations started against their schedule.
    lag: Histogram | None = None
    #: open loop: operations that started after the next one was due.
    late: int = 0
    target_rate: float | None = None
    #: dbplex side: pool wait of the phase's checkouts; None for the raw driver (and older results).
    pool_wait: PoolWait | None = None
    #: CPU seconds the client used (user + system, every worker process).
    client_cpu_s: float | None = None
    #: ``client_cpu_s`` over wall time, in percent of one core.
    client_cpu_pct: float | None = None
    warnings: list[str] = []


class Run(msgspec.Struct, kw_only=True, frozen=True):
    """One target (dbplex or the raw driver) on one source, one round."""

    source: str
    backend: str
    target: Target
    #: what ran the requests, e.g. ``dbplex dbplex-redis 0.1.0`` or ``redis-py 5.0.8``.
    label: str
    round: int
    threads: int
    pool_size: int
    processes: int = 1
    phases: dict[str, PhaseStats] = {}


class Overhead(msgspec.Struct, kw_only=True, frozen=True):
    """dbplex against the raw driver on one source and point (threads, pool size), over rounds.

    Each round runs the two targets back to back, so their ratio in that round shares the
    machine's conditions; the overhead is the median of those per-round ratios, which drift and
    other load on a shared machine move far less than either throughput alone.
    """

    source: str
    backend: str
    threads: int
    pool_size: int
    #: median throughput of each side's rounds.
    dbplex_ops_s: float
    raw_ops_s: float
    #: median over rounds of ``raw / dbplex - 1``, in percent: how much faster the raw driver was.
    overhead_pct: float
    #: each round's ``raw / dbplex - 1``, in percent.
    round_overheads_pct: list[float]
    #: the median absolute deviation of ``round_overheads_pct``: how far a round typically strays.
    noise_pct: float
    #: microseconds dbplex adds per operation and thread, from the median throughputs.
    added_us_per_op: float
    dbplex_rounds: list[float]
    raw_rounds: list[float]
    #: client CPU time per operation (user + system, median over rounds): what dbplex costs the
    #: client process, which other load on the machine barely moves.
    dbplex_cpu_us_per_op: float | None = None
    raw_cpu_us_per_op: float | None = None
    #: median over rounds of ``dbplex CPU / raw CPU - 1`` per operation, in percent.
    cpu_overhead_pct: float | None = None
    dbplex_p50_us: int
    dbplex_p99_us: int
    raw_p50_us: int
    raw_p99_us: int


class Server(msgspec.Struct, kw_only=True, frozen=True):
    """A source as it was benchmarked."""

    source: str
    backend: str
    url: str
    package: str
    plugin_version: str
    server_version: str | None = None
    #: the installed versions of the plugin's driver distributions.
    drivers: dict[str, str] = {}


class Environment(msgspec.Struct, kw_only=True, frozen=True):
    """Where the numbers come from."""

    dbplex: str
    python: str
    implementation: str
    platform: str
    machine: str
    cpu_count: int
    #: CPUs this process may run on (affinity), which can be fewer than ``cpu_count``.
    cpus_available: int
    #: 1, 5 and 15 minute load averages when the run started and ended: other load on the machine.
    load_before: list[float] = []
    load_after: list[float] = []
    memory_mb: int | None = None
    servers: list[Server] = []


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    sources: list[str]
    threads: list[int]
    pool_sizes: list[int]
    processes: int = 1
    #: total operations per second aimed at (open loop); None runs closed loop, as fast as possible.
    target_rate: float | None = None
    rounds: int = 1
    baseline: bool = True
    load: bool = True
    max_execution_s: float | None = None
    #: ``--async``: the threads were coroutines on one event loop, through ``dbplex.open_async``.
    asynchronous: bool = False


class SweepPoint(msgspec.Struct, kw_only=True, frozen=True):
    threads: int
    pool_size: int
    #: median throughput over rounds.
    throughput: float
    p99_us: int
    #: pool wait over the point's rounds.
    pool_wait: PoolWait | None = None
    #: older results only: p99 of their per-operation pool wait histograms.
    wait_p99_us: int | None = None
    rounds: list[float] = []


class SweepSource(msgspec.Struct, kw_only=True, frozen=True):
    """A sweep's verdict for one source."""

    source: str
    backend: str
    points: list[SweepPoint]
    #: the knee per thread count: the smallest pool size within ``tolerances`` of the best throughput.
    knees: dict[int, int]
    #: per thread count, the tolerance the knee used: the sweep's, or the rounds' spread if larger.
    tolerances: dict[int, float] = {}
    recommended_pool_size: int
    #: the classic starting point, 2 × server cores + effective spindles, for reference.
    rule_of_thumb: int
    rule: str


class Sweep(msgspec.Struct, kw_only=True, frozen=True):
    pool_sizes: list[int]
    threads: list[int]
    #: fraction of the best throughput a pool size may fall short of and still count as the knee.
    tolerance: float
    server_cores: int
    spindles: int
    sources: list[SweepSource] = []


class BenchResult(msgspec.Struct, kw_only=True, frozen=True):
    """The whole document."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["run", "sweep"]
    #: False when interrupted or stopped early: the numbers cover only what ran.
    complete: bool
    #: why the result is incomplete, e.g. ``interrupted (Ctrl-C) during pg/dbplex run``.
    incomplete_reason: str | None = None
    started_at: str
    finished_at: str
    #: the command line that produced it.
    command: list[str] = []
    environment: Environment
    workload: Resolved
    settings: Settings
    runs: list[Run] = []
    overheads: list[Overhead] = []
    sweep: Sweep | None = None
    warnings: list[str] = []


_encoder = msgspec.json.Encoder()


def save(result: BenchResult, path: str | os.PathLike[str]) -> Path:
    """Write ``result`` as indented JSON, atomically (a reader never sees half a file).

    The file is readable by its owner only (mode 0600) and scrubbed of secrets: it names the
    servers it measured by their URLs, redacted, and repeats the command line and error texts.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    text = scrub(msgspec.json.format(_encoder.encode(result), indent=1).decode()) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # a leftover temporary file keeps its mode otherwise
        out.write(text)
    os.replace(tmp, target)
    return target


class _Version(msgspec.Struct):
    schema_version: int = 0
    kind: str = ""


def load(path: str | os.PathLike[str]) -> BenchResult:
    """Read a result file, with errors that say which file and what is wrong."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read benchmark result: {exc.strerror}") from None
    try:
        version = msgspec.json.decode(data, type=_Version)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path}: not a dbplex bench result: {exc}") from None
    if version.schema_version != SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: result schema version {version.schema_version}, this dbplex reads version {SCHEMA_VERSION}"
        )
    try:
        return msgspec.json.decode(data, type=BenchResult)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path}: not a dbplex bench result: {exc}") from None
