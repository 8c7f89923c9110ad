"""Running a sync: stream the source through its checker, write the target with uniform ops,
checkpoint each batch in the target, propagate deletes, then check the mirror.

The source is read as ``dbplex check`` reads it (:meth:`Checker.batches`: key order where the
source has one, a batch in memory at a time). Each batch becomes uniform :class:`~dbplex.ops.Put`
ops — whole-record replaces, so writing a row twice leaves one record — sent concurrently on the
target's pool (the uniform ops have no multi-record write; a batch's puts overlap their round
trips instead). Only once every put of a batch is acknowledged is the checkpoint written: a
record in the target's ``dbplex_sync`` table holding the last key, the counts, the run's id and
the mapping's hash. A run killed at any point has therefore written at least everything up to
the checkpoint's key; a rerun resumes after it and rewrites at most one batch, which the puts
make harmless. A finished run marks the checkpoint done.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import msgspec

from dbplex.check import canonical, engine
from dbplex.check.backend import Row
from dbplex.check.report import CheckResult
from dbplex.check.rules import Mirror, address
from dbplex.errors import ConfigError
from dbplex.ops import Delete, Get, Put
from dbplex.sync.mapping import SyncMap
from dbplex.values import INT_MAX, INT_MIN

if TYPE_CHECKING:
    from dbplex.check.backend import Checker
    from dbplex.hub import Hub

log = logging.getLogger("dbplex.sync")

#: the target table holding one checkpoint record per sync (source place -> target place).
CHECKPOINTS = "dbplex_sync"
#: puts in flight at once on the target's pool.
WRITERS = 8

#: called after each committed batch with the rows read so far this run.
Progress = Callable[[int], None]


class Checkpoint(msgspec.Struct, kw_only=True):
    """What a sync stores in the target after each batch (the ``dbplex_sync`` record's values)."""

    run_id: str
    mapping: str
    #: the last source key copied (its own value when an int or str, else its canonical text).
    last_key: Any = None
    read: int = 0
    written: int = 0
    done: bool = False


class SyncReport(msgspec.Struct, kw_only=True):
    """What ``dbplex sync`` reports (``--json``)."""

    ok: bool
    source: str
    target: str
    run_id: str
    #: True when this run continued an interrupted one after its checkpoint's key.
    resumed: bool
    resumed_after: str | None
    #: source rows this run read, and how many it wrote (``--since`` skips older ones).
    read: int
    written: int
    skipped: int
    #: target records removed because the source has no such key (``--delete``).
    deleted: int
    #: rows written over every run of this sync, up to the checkpoint (resumed runs included).
    total_written: int
    #: seconds spent copying (deletes included) and checking the mirror.
    copy_seconds: float
    mirror_seconds: float
    mirror: CheckResult


class Sync:
    """One sync of ``source`` (``SOURCE.TABLE``) into ``target`` (``SOURCE.TABLE``, a table of
    uniform records), as :func:`run` performs it."""

    def __init__(self, hub: Hub, source: str, target: str, mapping: SyncMap, since: str | None = None) -> None:
        try:
            self.src = address(source, "SOURCE", field=False)
            self.dst = address(target, "TARGET", field=False)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if self.dst.family:
            raise ConfigError(
                f"TARGET {target!r}: a sync writes a table of records (SOURCE.NAME), not a key pattern; "
                f"write {self.dst.source}.{self.dst.table.rstrip(':*').replace(':', '_')} for example"
            )
        for place in (self.src, self.dst):
            hub.backend(place.source)  # an unknown source is a ConfigError naming the configured ones
        if since is not None and mapping.watermark is None:
            raise ConfigError('--since needs the watermark column: add `watermark = "COLUMN"` to the --map file')
        self.hub = hub
        self.mapping = mapping
        self.since = since
        self.id = f"{self.src}->{self.dst}"
        #: the checkpoint's mapping tag: a checkpoint of another mapping or ``--since`` is not resumed.
        self.digest = f"{mapping.digest()}:{since or ''}"

    # -- checkpoint ------------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint | None:
        """The stored checkpoint of this sync, or None."""
        row = self.hub.execute(self.dst.source, Get(table=CHECKPOINTS, key=self.id), read=False).first()
        if row is None:
            return None
        try:
            return msgspec.convert(row["values"], Checkpoint)
        except msgspec.ValidationError:
            log.warning("sync %s: checkpoint record unreadable, starting over", self.id)
            return None

    def _save(self, point: Checkpoint) -> None:
        self.hub.execute(self.dst.source, Put(table=CHECKPOINTS, key=self.id, values=msgspec.to_builtins(point)))

    # -- the run ---------------------------------------------------------------------------------

    def run(
        self, batch: int = 1000, delete: bool = False, progress: Progress | None = None, sample: int = 10
    ) -> SyncReport:
        """Copy, checkpointing each batch; remove extra target records when ``delete``; check the mirror."""
        source = self.hub.checker(self.src.source)
        renames = self.mapping.renames
        fields = list(renames)
        watermark = self.mapping.watermark
        read_fields = fields if watermark is None or watermark in renames else [*fields, watermark]
        point = self.checkpoint()
        resumed = point is not None and not point.done and point.mapping == self.digest and source.ordered
        if point is None or not resumed:
            point = Checkpoint(run_id=uuid.uuid4().hex, mapping=self.digest)
        after = point.last_key if resumed else None
        started = time.perf_counter()
        report = SyncReport(
            ok=False,
            source=str(self.src),
            target=str(self.dst),
            run_id=point.run_id,
            resumed=resumed,
            resumed_after=None if after is None else canonical.text(after),
            read=0,
            written=0,
            skipped=0,
            deleted=0,
            total_written=point.written,
            copy_seconds=0.0,
            mirror_seconds=0.0,
            mirror=CheckResult(name="mirror", kind="mirror", status="pass"),
        )
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="dbplex-sync") as writers:
            since, at = self.since, read_fields.index(watermark) if watermark else -1
            for rows in self._stream(source, read_fields, batch, after):
                puts = []
                for key, values in rows:
                    if since is not None and not _at_least(values[at], since):
                        report.skipped += 1
                        continue
                    record = {renames[f]: _uniform(v) for f, v in zip(read_fields, values, strict=True) if f in renames}
                    puts.append(Put(table=self.dst.table, key=canonical.text(key), values=record))
                list(writers.map(lambda op: self.hub.execute(self.dst.source, op), puts))
                report.read += len(rows)
                report.written += len(puts)
                point.read += len(rows)
                point.written += len(puts)
                point.last_key = _storable(rows[-1][0])
                self._save(point)
                if progress is not None:
                    progress(report.read)
            if delete:
                report.deleted = self._delete(source, writers)
        point.done = True
        self._save(point)
        report.total_written = point.written
        report.copy_seconds = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        rule = Mirror(
            source=str(self.src),
            target=str(self.dst),
            key=self.mapping.key,
            fields=renames,
            key_type="str",  # uniform record keys are strings, whatever the source's key type
            description=f"sync {self.id}",
        )
        report.mirror = engine.check(self.hub, "mirror", rule, sample, dt.datetime.now(dt.timezone.utc))
        report.mirror_seconds = round(time.perf_counter() - started, 3)
        report.ok = report.mirror.status == "pass"
        return report

    def _stream(self, source: Checker, fields: list[str], batch: int, after: Any) -> Iterator[list[Row]]:
        """The source's rows in batches, those with a key above ``after`` when resuming."""
        for rows in source.batches(self.src.table, self.mapping.key, fields, batch, after):
            if after is not None:
                rows = [row for row in rows if row[0] != after]
            if rows:
                yield rows

    def _delete(self, source: Checker, writers: ThreadPoolExecutor) -> int:
        """Remove the target's records whose key the source lacks, a batch of keys at a time."""
        target = self.hub.checker(self.dst.source)
        removed = 0
        for rows in target.batches(self.dst.table, None, [], 1000):
            keys = [canonical.text(key) for key, _ in rows]
            present = source.existing(self.src.table, self.mapping.key, keys)
            gone = [Delete(table=self.dst.table, key=key) for key in keys if key not in present]
            removed += sum(
                bool(r.affected) for r in writers.map(lambda op: self.hub.execute(self.dst.source, op), gone)
            )
        return removed


def _uniform(value: Any) -> Any:
    """``value`` as a uniform op can store it: its canonical text when it is outside the domain
    (a timestamp, a decimal, a UUID, an int past 64 bits), so the mirror check compares equal."""
    if value is None or type(value) in (str, bool, float, bytes):
        return value
    if type(value) is int:
        return value if INT_MIN <= value <= INT_MAX else str(value)
    if isinstance(value, list | tuple):
        return [_uniform(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _uniform(v) for k, v in value.items()}
    return canonical.text(value)


def _storable(key: Any) -> Any:
    """A source key as the checkpoint stores it: resumable as itself when an int or str."""
    return key if type(key) in (int, str) else canonical.text(key)


def _at_least(value: Any, since: str) -> bool:
    """Whether a row's watermark ``value`` is at or after ``since`` (compared as the value's type:
    a timestamp or date with ISO 8601 ``since``, a number with a number, else by text)."""
    if value is None:
        return False
    try:
        return _compare(value, since)
    except ValueError:
        raise ConfigError(
            f"--since {since!r}: the watermark holds {type(value).__name__} values; give "
            + ("an ISO 8601 time or date" if isinstance(value, dt.date) else "a number")
        ) from None


def _compare(value: Any, since: str) -> bool:
    if isinstance(value, dt.datetime):
        moment = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        if (moment.tzinfo is None) != (value.tzinfo is None):
            moment = moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment
            value = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
        return bool(value >= moment)
    if isinstance(value, dt.date):
        return value >= dt.date.fromisoformat(since[:10])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value >= float(since)
    return canonical.text(value) >= since
