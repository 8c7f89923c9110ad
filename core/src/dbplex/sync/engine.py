"""Running a sync: stream the source through its checker, write the target with uniform ops,
checkpoint each batch in the target, propagate deletes, then check the mirror.

The source is read as ``dbplex check`` reads it (:meth:`Checker.batches`: key order where the
source has one, a batch in memory at a time). Each batch becomes :class:`~dbplex.ops.PutMany`
ops of up to :data:`PUT_MANY` records — whole-record replaces, so writing a row twice leaves one
record — each one round trip, sent concurrently on the target's pool. A target whose backend
has no PutMany gets one :class:`~dbplex.ops.Put` per record instead, overlapping their round
trips. Only once every record of a batch is acknowledged is the checkpoint written: a
record in the target's ``dbplex_sync`` table holding the last key, the counts, the run's id and
the mapping's hash. A run killed at any point has therefore written at least everything up to
the checkpoint's key; a rerun resumes after it and rewrites at most one batch, which the puts
make harmless. A finished run marks the checkpoint done.

:meth:`Sync.follow` (``--follow``) then keeps the target current from the source's change feed
(:mod:`dbplex.changes`). Its start position is taken before the copy begins and stored in the
checkpoint, so a write made during the copy is applied after it. Each batch of changes is applied
by reading the changed keys' rows from the source again (:meth:`Checker.rows`) and putting them
through the same mapping as the copy (a key the source no longer has is deleted with ``delete``),
and only then is the batch's last position stored: a follower killed at any point resumes from
the stored position and replays at most one batch, which the puts make harmless. Reading the row
rather than using the change's values makes a replayed or reordered change converge on the
source's current row, written exactly as the copy writes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import msgspec

from dbplex.changes.watch import WAIT_STEP
from dbplex.check import canonical, engine
from dbplex.check.backend import Row
from dbplex.check.report import CheckResult
from dbplex.check.rules import Mirror, address
from dbplex.errors import ConfigError, UnsupportedError
from dbplex.ops import Delete, Get, Op, Put, PutMany
from dbplex.sync.mapping import SyncMap, derive
from dbplex.values import INT_MAX, INT_MIN

if TYPE_CHECKING:
    from dbplex.changes import Change, ChangeFeed
    from dbplex.check.backend import Checker
    from dbplex.hub import Hub

log = logging.getLogger("dbplex.sync")

#: the target table holding one checkpoint record per sync (source place -> target place).
CHECKPOINTS = "dbplex_sync"
#: writes in flight at once on the target's pool.
WRITERS = 8
#: records per PutMany: a larger batch is written as several, overlapping their round trips.
PUT_MANY = 500
#: records sampled to find a collection's or key family's fields without a map (``schema diff``'s default).
DESCRIBE_SAMPLE = 1000

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
    #: the change feed position ``--follow`` applied up to (taken before its copy began).
    position: str | None = None


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
    #: None when not checked: the copy of ``--follow``, whose source keeps changing.
    mirror: CheckResult | None


class FollowReport(msgspec.Struct, kw_only=True):
    """What ``dbplex sync --follow`` reports when it stops (``--json``)."""

    source: str
    target: str
    #: the initial copy; None when this run resumed following after a finished copy.
    copy: SyncReport | None
    #: the feed position this run followed from, and the last one stored in the checkpoint.
    started_after: str
    position: str
    #: changes applied (at least once: those of a batch replayed after a kill count again).
    changes: int = 0
    #: records put in the target, and deleted from it (``delete``).
    written: int = 0
    deleted: int = 0
    #: changed keys left alone: older than ``--since``, or gone from the source without ``delete``.
    skipped: int = 0


class Sync:
    """One sync of ``source`` (``SOURCE.TABLE``) into ``target`` (``SOURCE.TABLE``, a table of
    uniform records), as :func:`run` performs it."""

    def __init__(
        self,
        hub: Hub,
        source: str,
        target: str,
        mapping: SyncMap | None = None,
        since: str | None = None,
        *,
        watermark: str | None = None,
    ) -> None:
        """``mapping`` None copies every field the source's describer finds (:func:`derive`);
        ``watermark`` names the column ``--since`` compares where the map does not."""
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
        if mapping is None:
            mapping = derive(hub.describer(self.src.source).describe(self.src.table, DESCRIBE_SAMPLE), watermark)
        elif watermark is not None and mapping.watermark not in (None, watermark):
            raise ConfigError(f"--watermark {watermark!r}: the --map file's watermark is {mapping.watermark!r}")
        elif watermark is not None:
            mapping = msgspec.structs.replace(mapping, watermark=watermark)
        if since is not None and mapping.watermark is None:
            raise ConfigError(
                '--since needs the watermark column: add --watermark COLUMN or `watermark = "COLUMN"` to the --map file'
            )
        self.hub = hub
        self.mapping = mapping
        self.since = since
        watermark = mapping.watermark
        #: the source fields read: the mapped ones, and the watermark ``--since`` compares.
        self.fields = [*mapping.renames]
        if watermark is not None and watermark not in mapping.renames:
            self.fields.append(watermark)
        self.id = f"{self.src}->{self.dst}"
        #: the checkpoint's mapping tag: a checkpoint of another mapping or ``--since`` is not resumed.
        self.digest = f"{mapping.digest()}:{since or ''}"
        #: False once the target's backend refused PutMany: records are then put one by one.
        self.put_many = True

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
        self,
        batch: int = 1000,
        delete: bool = False,
        progress: Progress | None = None,
        sample: int = 10,
        *,
        position: str | None = None,
    ) -> SyncReport:
        """Copy, checkpointing each batch; remove extra target records when ``delete``; check the
        mirror — unless ``position`` is given (:meth:`follow`): it is stored in the checkpoint and
        the mirror is left unchecked, the source changing meanwhile."""
        source = self.hub.checker(self.src.source)
        point = self.checkpoint()
        resumed = point is not None and not point.done and point.mapping == self.digest and source.ordered
        # a follower resumes only a copy made since its position: rows copied before are stale
        resumed = resumed and point is not None and position in (None, point.position)
        if point is None or not resumed:
            point = Checkpoint(run_id=uuid.uuid4().hex, mapping=self.digest)
        point.position = position if position is not None else point.position
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
            mirror=None,
        )
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="dbplex-sync") as writers:
            for rows in self._stream(source, batch, after):
                records = self._records(rows)
                self._put(writers, records)
                report.skipped += len(rows) - len(records)
                report.read += len(rows)
                report.written += len(records)
                point.read += len(rows)
                point.written += len(records)
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
        if position is not None:
            report.ok = True
            return report
        started = time.perf_counter()
        rule = Mirror(
            source=str(self.src),
            target=str(self.dst),
            key=self.mapping.key,
            fields=self.mapping.renames,
            key_type="str",  # uniform record keys are strings, whatever the source's key type
            description=f"sync {self.id}",
        )
        report.mirror = engine.check(self.hub, "mirror", rule, sample, dt.datetime.now(dt.timezone.utc))
        report.mirror_seconds = round(time.perf_counter() - started, 3)
        report.ok = report.mirror.status == "pass"
        return report

    def _stream(self, source: Checker, batch: int, after: Any) -> Iterator[list[Row]]:
        """The source's rows in batches, those with a key above ``after`` when resuming."""
        for rows in source.batches(self.src.table, self.mapping.key, self.fields, batch, after):
            if after is not None:
                rows = [row for row in rows if row[0] != after]
            if rows:
                yield rows

    def _records(self, rows: list[Row]) -> dict[str, dict[str, Any]]:
        """The target's records for source ``rows`` by key, less those older than ``--since``."""
        renames, fields = self.mapping.renames, self.fields
        at = fields.index(self.mapping.watermark) if self.mapping.watermark else -1
        records = {}
        for key, values in rows:
            if self.since is not None and not _at_least(values[at], self.since):
                continue
            records[canonical.text(key)] = {
                renames[f]: _uniform(v) for f, v in zip(fields, values, strict=True) if f in renames
            }
        return records

    def _put(self, writers: ThreadPoolExecutor, records: dict[str, dict[str, Any]]) -> None:
        """Write ``records`` to the target: PutMany ops of up to :data:`PUT_MANY` records, or one
        Put per record once the target's backend has refused PutMany."""
        table = self.dst.table
        if self.put_many:
            keys = list(records)
            chunks = [keys[at : at + PUT_MANY] for at in range(0, len(keys), PUT_MANY)]
            try:
                self._write(writers, [PutMany(table=table, records={k: records[k] for k in chunk}) for chunk in chunks])
                return
            except UnsupportedError as exc:  # refused before anything was sent
                log.info("sync %s: %s; putting records one by one", self.id, exc)
                self.put_many = False
        self._write(writers, [Put(table=table, key=key, values=values) for key, values in records.items()])

    def _write(self, writers: ThreadPoolExecutor, ops: Sequence[Op]) -> int:
        """Run ``ops`` on the target, overlapping their round trips; how many affected a record."""
        return sum(bool(r.affected) for r in writers.map(lambda op: self.hub.execute(self.dst.source, op), ops))

    # -- following the change feed ---------------------------------------------------------------

    def follow(
        self,
        batch: int = 1000,
        delete: bool = False,
        progress: Progress | None = None,
        *,
        count: int | None = None,
        timeout: float | None = None,
        stop: threading.Event | None = None,
    ) -> FollowReport:
        """Copy (unless a finished copy's checkpoint holds a feed position), then apply the source's
        changes until ``stop`` is set, ``count`` changes were applied or ``timeout`` seconds passed.

        Raises :class:`~dbplex.errors.ConfigError` when the source table's changes are not
        recorded (``dbplex watch --install``), :class:`~dbplex.errors.UnsupportedError` when its
        backend or server has no change feed — both before anything is copied.
        """
        point = self.checkpoint()
        stored = point.position if point is not None and point.mapping == self.digest else None
        feed = self.hub.change_feed(self.src.source)
        try:
            position = feed.start([self.src.table], stored)  # before the copy: its writes are read after
            copy = None
            if point is None or not point.done or stored is None:
                copy = self.run(batch, delete, progress, position=position)
            report = FollowReport(
                source=str(self.src), target=str(self.dst), copy=copy, started_after=position, position=position
            )
            self._follow(feed, report, batch, delete, count, timeout, stop or threading.Event())
        finally:
            feed.close()
        return report

    def _follow(
        self,
        feed: ChangeFeed,
        report: FollowReport,
        batch: int,
        delete: bool,
        count: int | None,
        timeout: float | None,
        stop: threading.Event,
    ) -> None:
        source = self.hub.checker(self.src.source)
        point = self.checkpoint() or Checkpoint(run_id=uuid.uuid4().hex, mapping=self.digest, done=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="dbplex-sync") as writers:
            while not stop.is_set() and (count is None or report.changes < count):
                wait = WAIT_STEP if deadline is None else min(WAIT_STEP, deadline - time.monotonic())
                if wait <= 0:
                    return
                changes = feed.read([self.src.table], report.position, wait)
                if count is not None:
                    changes = changes[: count - report.changes]
                for at in range(0, len(changes), batch):
                    self._apply(source, writers, changes[at : at + batch], delete, report)
                    point.position = report.position
                    self._save(point)
                    if stop.is_set():
                        return

    def _apply(
        self, source: Checker, writers: ThreadPoolExecutor, changes: list[Change], delete: bool, report: FollowReport
    ) -> None:
        """Apply ``changes``: put the changed keys' current rows, delete (with ``delete``) the gone ones."""
        keys = list(dict.fromkeys(change.key for change in changes))
        rows = source.rows(self.src.table, self.mapping.key, self.fields, keys)
        records = self._records(rows)
        present = {canonical.text(key) for key, _ in rows}
        gone = [key for key in keys if key not in present]
        self._put(writers, records)
        if delete:
            report.deleted += self._write(writers, [Delete(table=self.dst.table, key=key) for key in gone])
        report.written += len(records)
        report.skipped += len(keys) - len(records) - (len(gone) if delete else 0)
        report.changes += len(changes)
        report.position = changes[-1].position

    def _delete(self, source: Checker, writers: ThreadPoolExecutor) -> int:
        """Remove the target's records whose key the source lacks, a batch of keys at a time."""
        target = self.hub.checker(self.dst.source)
        removed = 0
        for rows in target.batches(self.dst.table, None, [], 1000):
            keys = [canonical.text(key) for key, _ in rows]
            present = source.existing(self.src.table, self.mapping.key, keys)
            removed += self._write(
                writers, [Delete(table=self.dst.table, key=key) for key in keys if key not in present]
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
