"""MongoDB's :class:`~dbplex.partition.Partitioner`: per-period collections, a time series, or one
sharded collection (see :mod:`dbplex_mongo.partition_options` for the layouts, and
:mod:`dbplex_mongo.partition_layout` for how ``auto`` picks one on this server).

The commands come from :mod:`dbplex_mongo.partition_render`; this module finds out what the
server holds (``listCollections``, ``hello``, ``config.collections``), sends the commands, and
reads and writes partitions. It has a client of its own, opened on first need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from msgspec.structs import replace as replace_struct
from pymongo.database import Database
from pymongo.errors import OperationFailure

from dbplex.backends import Source
from dbplex.errors import UnsupportedError
from dbplex.migrate.locking import LockOwner, LockSettings
from dbplex.partition.errors import KeyOutOfRange, PlanError
from dbplex.partition.interval import utc
from dbplex.partition.layout import fixed_partitions, layout, partition_of
from dbplex.partition.model import Action, Existing, Inventory, Partition
from dbplex.partition.naming import from_name
from dbplex.partition.query import PartitionQuery
from dbplex.partition.rendered import rendered_commands
from dbplex.partition.spec import PartitionSpec
from dbplex.pool import Pool
from dbplex.steps import drive
from dbplex_mongo import errors
from dbplex_mongo import partition_read as read
from dbplex_mongo import partition_render as render
from dbplex_mongo.migrate_lock import MongoLease
from dbplex_mongo.partition_layout import LayoutChoice, TimeSeriesSupport, choose, declared, probe_timeseries
from dbplex_mongo.partition_options import MongoPartitionOptions, problems
from dbplex_mongo.partition_render import Command

Doc = dict[str, Any]
#: a maintenance lease lasts this long without a heartbeat (the core renews it while it runs).
LEASE_TTL = 60.0


class MongoPartitioner:
    """The partitioning backend of one MongoDB source."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self._pool = pool
        self._admin = admin
        self._mongos: bool | None = None
        #: whether the server makes time-series collections, once asked (``auto`` specs only).
        self._timeseries: TimeSeriesSupport | None = None
        #: the layout last chosen for each ``auto`` spec, by label (``fetch`` runs without listing).
        self._chosen: dict[str, LayoutChoice] = {}

    @property
    def _database_name(self) -> str:
        with self._pool.connection() as db:
            return str(db.name)

    def _run(self, doing: str, action: Callable[[Database[Doc]], Any]) -> Any:
        """``action`` on the source's database, inside a checkout of the hub's pool (reads,
        writes and the catalog): what it returns must not be a cursor left to read later."""
        try:
            with _database(self._pool) as db:
                return action(db)
        except errors.DRIVER_ERRORS as exc:
            raise errors.translate(self.source, exc, doing) from exc

    def is_mongos(self) -> bool:
        """Whether the source is a sharded cluster's router (``hello`` answers ``msg: "isdbgrid"``)."""
        if self._mongos is None:
            hello = self._run("asking hello", lambda db: db.client.admin.command("hello"))
            self._mongos = hello.get("msg") == "isdbgrid"
        return self._mongos

    def _layout(
        self, spec: PartitionSpec, collections: dict[str, Doc] | None = None
    ) -> tuple[MongoPartitionOptions, LayoutChoice]:
        """The spec's options with ``layout`` as it is on this server, and why. An ``auto`` spec is
        decided from ``collections`` (a fresh ``listCollections``) when given; otherwise it keeps the
        choice last made for it, or lists the collections."""
        options = read.options(spec)
        choice = declared(spec, options)
        if choice is None:
            choice = self._chosen.get(spec.label) if collections is None else None
            if choice is None:
                listed = self._collections() if collections is None else collections
                choice = self._chosen[spec.label] = choose(spec, options, listed, self._support)
        return replace_struct(options, layout=choice.name), choice

    def _support(self) -> TimeSeriesSupport:
        """Whether the server makes time-series collections: probed once per partitioner."""
        if self._timeseries is None:
            self._timeseries = self._run(
                'probing for time-series collections (layout = "auto"; name the layout to skip the probe)',
                probe_timeseries,
            )
        return self._timeseries

    # -- protocol ---------------------------------------------------------------------------------

    def validate(self, spec: PartitionSpec) -> list[str]:
        return problems(spec)

    def lock(self, spec: PartitionSpec, owner: LockOwner) -> MongoLease:
        """A lease ``partition:<target>`` in ``dbplex_schema_lock``, next to the migration lease."""
        return MongoLease(
            self.source, self._pool, owner, LockSettings(ttl=LEASE_TTL), lease_id=f"partition:{spec.target}"
        )

    def inspect(self, spec: PartitionSpec, *, now: datetime | None = None) -> Inventory:
        """What the server holds for ``spec``, judged at ``now`` (``--now``; else the clock): the
        virtual periods of a single collection or time series run to the horizon of that moment."""
        moment = read.moment_of(now)
        collections = self._collections()
        options, choice = self._layout(spec, collections)
        if choice.name == "collections":
            inventory = self._inspect_collections(spec, options, collections)
        elif choice.name == "timeseries":
            inventory = self._inspect_timeseries(spec, options, collections.get(spec.target), moment)
        else:
            inventory = self._inspect_collection(spec, options, collections.get(spec.target), moment)
        inventory.layout, inventory.layout_reason = choice.name, choice.reason
        inventory.details["server"] = "mongos (sharded cluster)" if self.is_mongos() else "not a mongos"
        if options.shards(spec) and not self.is_mongos():
            inventory.details["sharding"] = (
                "not sharded: this server is not a mongos; on a sharded cluster setup runs "
                + render.shard_collection(spec, options, self._database_name, spec.target, mongos=True).text()
            )
        return inventory

    def listing(self, spec: PartitionSpec) -> Inventory:
        """The partitions a query reads, from ``listCollections`` alone (:func:`dbplex_mongo.partition_read.listing`):
        a hash spec lists one partition, ``h0``, which reads the whole collection, so a query reports
        it alone as scanned."""
        return self._read(read.listing(spec, self._layout(spec)[1].name))

    def render(self, spec: PartitionSpec, action: Action) -> Action:
        commands = self._commands(spec, action)
        shown = [c.text() for c in commands] or ["// nothing to send: " + _nothing(spec, action)]
        return replace(action, commands=shown, payload=commands)

    def apply(self, spec: PartitionSpec, action: Action) -> None:
        rendered = rendered_commands(action, Command)
        commands = rendered if rendered is not None else self._commands(spec, action)
        created = False
        for command in commands:
            sent = self._send(command)
            created = created or (sent and command.document.get("create") == spec.target)
        if action.kind == "setup" and self._layout(spec)[1].name == "timeseries":
            self._check_timeseries(spec, created=created)

    def insert(self, spec: PartitionSpec, rows: Iterable[dict[str, Any]], *, now: datetime | None = None) -> int:
        """Write rows to their partitions' collections; a single collection or time series takes a
        time key only inside the window and before the horizon of ``now`` (else the clock)."""
        routed = self._route(spec, list(rows), read.moment_of(now))
        written = 0
        for name, documents in routed.items():

            def write(db: Database[Doc], name: str = name, documents: list[Doc] = documents) -> int:
                # copies: pymongo would add ``_id`` to the caller's dicts
                return len(db[name].insert_many([dict(d) for d in documents], ordered=True).inserted_ids)

            written += self._run(f"inserting into {name}", write)
        return written

    def fetch(self, spec: PartitionSpec, partition: Partition, query: PartitionQuery) -> list[dict[str, Any]]:
        return self._read(read.fetch(spec, self._layout(spec)[1].name, partition, query))

    def remainder(self, spec: PartitionSpec, value: Any) -> int | None:
        return read.remainder(spec, value)

    def explain(self, spec: PartitionSpec, query: PartitionQuery) -> str | None:
        return None

    def close(self) -> None:
        """Nothing to close: the pools are the hub's."""

    # -- inspecting -------------------------------------------------------------------------------

    def _collections(self) -> dict[str, Doc]:
        """``listCollections`` by name (filtered here: not every server honours the filter)."""
        found: dict[str, Doc] = self._read(_catalog())
        return found

    def _inspect_collections(
        self, spec: PartitionSpec, options: MongoPartitionOptions, collections: dict[str, Doc]
    ) -> Inventory:
        inventory = Inventory()
        for name in sorted(collections):
            partition = from_name(spec, name)
            if partition is not None:
                inventory.partitions.append(Existing(partition))
            elif spec.archive and name.startswith(spec.archive):
                archived = from_name(spec, name[len(spec.archive) :])
                if archived is not None:
                    inventory.partitions.append(Existing(archived, state="archived"))
        if options.template and options.template not in collections:
            inventory.ready = False
            inventory.problem = (
                f"template collection {options.template!r} does not exist: create it first, or drop `template`"
            )
        if spec.strategy == "range" and not spec.is_time_range:
            inventory.highest = self._highest(
                spec, [e.partition for e in inventory.partitions if e.state == "attached"]
            )
        return inventory

    def _highest(self, spec: PartitionSpec, partitions: list[Partition]) -> int | None:
        for partition in sorted(partitions, key=lambda p: p.lower if isinstance(p.lower, int) else 0, reverse=True):
            top = self._edge(partition.name, spec.key, -1)
            if isinstance(top, int):
                return top
        return None

    def _edge(self, name: str, key: str, direction: int) -> Any:
        """The smallest (1) or largest (-1) value of ``key`` in collection ``name``."""
        return self._read(read.edge(name, key, direction))

    def _read(self, steps: read.Steps[read.T]) -> read.T:
        """Run a read of :mod:`dbplex_mongo.partition_read`, each step in a checkout of the hub's pool."""
        return drive(steps, lambda step: self._run(read.doing(step), partial(_answer, step=step)))

    def _inspect_timeseries(
        self, spec: PartitionSpec, options: MongoPartitionOptions, found: Doc | None, now: datetime
    ) -> Inventory:
        inventory = Inventory()
        if found is None:
            # the setup makes the collection; its virtual periods come with it
            _needs_setup(inventory, f"time-series collection {spec.target!r} does not exist")
            inventory.partitions = [Existing(p) for p in read.periods(spec, None, now)]
            return inventory
        if found.get("type") != "timeseries":
            inventory.ready = False
            inventory.problem = _not_timeseries(spec, options)
            return inventory
        current = found.get("options", {})
        series = current.get("timeseries", {})
        wanted = render.timeseries_options(spec, options)
        for field, name in (("timeField", "the key"), ("metaField", "meta_field")):
            if series.get(field) != wanted.get(field):
                inventory.ready = False
                inventory.problem = (
                    f"time-series collection {spec.target!r} has {field} {series.get(field)!r}, the spec wants "
                    f"{wanted.get(field)!r} ({name}); MongoDB cannot change it: create a new collection and copy"
                )
                return inventory
        expire = current.get("expireAfterSeconds")
        inventory.details["expireAfterSeconds"] = expire if expire is not None else "off"
        if expire != render.timeseries_create(spec, options).document.get("expireAfterSeconds"):
            _needs_setup(inventory, f"retention changed: expireAfterSeconds is {expire}")
        if options.granularity and series.get("granularity") != options.granularity:
            _needs_setup(inventory, f"granularity is {series.get('granularity')}, the spec wants {options.granularity}")
        self._shard_setup(spec, options, inventory, spec.target)
        # with retention, MongoDB removes what is past the window itself (expireAfterSeconds): the
        # periods start at the window, so no retire is planned (a time series takes arbitrary
        # deletes only from MongoDB 7.0); without it they reach back to the oldest measurement
        oldest = None if spec.retention else self._edge(spec.target, spec.key, 1)
        inventory.partitions = [Existing(p) for p in read.periods(spec, oldest, now)]
        return inventory

    def _inspect_collection(
        self, spec: PartitionSpec, options: MongoPartitionOptions, found: Doc | None, now: datetime
    ) -> Inventory:
        inventory = Inventory()
        if found is None:
            # the setup makes the collection; its virtual partitions come with it
            _needs_setup(inventory, f"collection {spec.target!r} does not exist")
        highest = None
        if spec.strategy == "range" and not spec.is_time_range:
            top = None if found is None else self._edge(spec.target, spec.key, -1)
            highest = top if isinstance(top, int) else None
            inventory.highest = highest
        if found is None:
            wanted = layout(spec, now).wanted
        elif spec.is_time_range:
            wanted = read.periods(spec, self._edge(spec.target, spec.key, 1), now)
        else:
            wanted = layout(spec, now, highest).wanted
        inventory.partitions = [Existing(p) for p in wanted]
        if found is not None:
            self._shard_setup(spec, options, inventory, spec.target)
        return inventory

    def _shard_setup(
        self, spec: PartitionSpec, options: MongoPartitionOptions, inventory: Inventory, name: str
    ) -> None:
        """A setup action when the collection should be sharded and is not. Off a mongos there is
        nothing to do (status says so, and a setup that runs anyway shows the command it would send)."""
        if not options.shards(spec) or not self.is_mongos():
            return
        namespace = f"{self._database_name}.{name}"
        sharded = self._run(
            "reading config.collections", lambda db: db.client.config.collections.find_one({"_id": namespace})
        )
        inventory.details["sharding"] = "sharded" if sharded else "not sharded yet"
        if not sharded:
            _needs_setup(inventory, f"collection {name!r} is not sharded")

    def _check_timeseries(self, spec: PartitionSpec, created: bool) -> None:
        """Refuse a server that accepted ``create`` with ``timeseries`` but made a regular collection,
        dropping what this setup made."""
        found = self._collections().get(spec.target)
        if found is None or found.get("type") == "timeseries":
            return
        created = created and self._run("counting", lambda db: db[spec.target].estimated_document_count()) == 0
        if created:  # ours, and empty: nobody else's data goes
            self._send(render.drop(spec.target))
        raise UnsupportedError(
            f"source {self.source.name!r}: the server accepted a time-series `create` for {spec.target!r} but made "
            f"a regular collection (type {found.get('type')!r}{', dropped again' if created else ''}): it has no "
            'time-series collections (MongoDB 5.0+ has them; nx-27017 does not); use layout = "collections" here, '
            'or "auto", which picks it on such a server'
        )

    # -- rendering --------------------------------------------------------------------------------

    def _commands(self, spec: PartitionSpec, action: Action) -> list[Command]:
        options, choice = self._layout(spec)
        layout_name = choice.name
        partition = action.partition
        mongos = self.is_mongos()
        database = self._database_name
        if action.kind == "create" and partition is not None:
            if layout_name != "collections":
                return []
            commands = [render.create_collection(partition.name, self._template(options))]
            indexes = render.create_indexes(partition.name, self._template_indexes(options))
            commands += [indexes] if indexes else []
            if options.shards(spec):
                commands.append(render.shard_collection(spec, options, database, partition.name, mongos=mongos))
            return commands
        if action.kind == "retire" and partition is not None:
            if layout_name != "collections":
                return [render.delete_range(spec, partition)]
            if spec.retention_mode == "archive" and spec.archive:
                return [render.archive(database, partition.name, spec.archive)]
            return [render.drop(partition.name)]
        if action.kind == "setup":
            return self._setup(spec, options, mongos, read.moment_of(action.now))
        raise PlanError(spec.label, [f"MongoDB has no {action.kind!r} action"])

    def _setup(self, spec: PartitionSpec, options: MongoPartitionOptions, mongos: bool, now: datetime) -> list[Command]:
        """Create the target if missing, bring its options in line, shard it, set its zones."""
        found = self._collections().get(spec.target)
        database = self._database_name
        commands: list[Command] = []
        if options.layout_for(spec) == "timeseries":
            if found is None:
                commands.append(render.timeseries_create(spec, options))
            else:
                current = found.get("options", {})
                if current.get("expireAfterSeconds") != render.timeseries_create(spec, options).document.get(
                    "expireAfterSeconds"
                ):
                    commands.append(render.timeseries_retention(spec))
                granularity = current.get("timeseries", {}).get("granularity")
                if options.granularity and granularity != options.granularity:
                    commands.append(render.timeseries_granularity(spec, options.granularity))
        elif found is None:
            commands.append(render.create_collection(spec.target))
        if options.shards(spec):
            commands.append(render.shard_collection(spec, options, database, spec.target, mongos=mongos))
        if options.zones:
            wanted = layout(spec, now).wanted
            commands += render.zone_ranges(spec, options, database, wanted, mongos=mongos)
        return commands

    def _template(self, options: MongoPartitionOptions) -> Doc | None:
        if not options.template:
            return None
        found = self._collections().get(options.template)
        return None if found is None else dict(found.get("options", {}))

    def _template_indexes(self, options: MongoPartitionOptions) -> list[Doc]:
        if not options.template:
            return []
        template = options.template
        return [
            dict(i) for i in self._run(f"listing indexes of {template}", lambda db: list(db[template].list_indexes()))
        ]

    def _send(self, command: Command) -> bool:
        """Send ``command``; False when it was not sent (``skip``) or its effect was already there."""
        if command.skip:
            return False
        doing = f"running {next(iter(command.document))}"
        try:
            with _database(self._admin) as db:  # no operation timeout: index builds, sharding
                target = db.client.admin if command.admin else db
                target.command(command.document)
        except OperationFailure as exc:
            if exc.code in command.done_codes:
                return False
            raise errors.translate(self.source, exc, doing) from exc
        except errors.DRIVER_ERRORS as exc:
            raise errors.translate(self.source, exc, doing) from exc
        return True

    # -- rows -------------------------------------------------------------------------------------

    def _route(self, spec: PartitionSpec, rows: list[Doc], now: datetime) -> dict[str, list[Doc]]:
        """Collection name -> rows; refuses every row (writing none) if one has no partition at ``now``."""
        collections = self._collections()
        options, choice = self._layout(spec, collections)
        layout_name = choice.name
        routed: dict[str, list[Doc]] = defaultdict(list)
        if layout_name != "collections":
            if spec.target not in collections:
                raise KeyOutOfRange(
                    f"partitions {spec.label!r}: collection {spec.target!r} does not exist: "
                    "run `dbplex partition apply`"
                )
            if layout_name == "timeseries" and collections[spec.target].get("type") != "timeseries":
                raise KeyOutOfRange(f"partitions {spec.label!r}: {_not_timeseries(spec, options)}; no row was written")
            for row in rows:
                _refuse_unless(spec, row, _accepts(spec, row.get(spec.key), now))
                routed[spec.target].append(row)
            return routed
        default = next((p.name for p in fixed_partitions(spec) if p.kind == "default"), None)
        for row in rows:
            value = row.get(spec.key)
            partition = partition_of(spec, value)
            if partition is None or partition.name not in collections:
                fallback = default
                _refuse_unless(spec, row, fallback in collections, partition)
                assert fallback is not None
                routed[fallback].append(row)
            else:
                routed[partition.name].append(row)
        return routed


def _answer(db: Database[Doc], step: read.Step) -> Any:
    """What pymongo answers to a step of :mod:`dbplex_mongo.partition_read`."""
    if isinstance(step, read.Find):
        cursor = db[step.collection].find(step.filter, step.projection)
        if step.sort:
            cursor = cursor.sort(step.sort)
        return list(cursor if step.limit is None else cursor.limit(step.limit))
    if isinstance(step, read.ListNames):
        return list(db.list_collection_names())
    return read.by_name(db.list_collections())


def _catalog() -> read.Steps[dict[str, Doc]]:
    collections: dict[str, Doc] = yield read.ListCollections()
    return collections


def _needs_setup(inventory: Inventory, reason: str) -> None:
    """One ``setup`` action per plan (it brings the whole target in line), with every reason."""
    found = next((a for a in inventory.actions if a.kind == "setup"), None)
    if found is None:
        inventory.actions.append(Action("setup", None, reason))
    else:
        found.reason = f"{found.reason}; {reason}"


def _accepts(spec: PartitionSpec, value: Any, now: datetime) -> bool:
    """Whether a single collection (or time series) takes a row with key ``value`` at ``now``, that
    is whether a virtual partition holds it: any value for hash; a listed value; a number from
    ``start``; a datetime before the premade horizon and, with retention, not already past the window."""
    if spec.strategy == "hash":
        return True
    if not spec.is_time_range:
        partition = partition_of(spec, value)
        return partition is not None and (spec.strategy == "list" or value >= spec.start)
    if not isinstance(value, datetime):
        return False
    found = layout(spec, now)
    moment = utc(value)
    if isinstance(found.horizon, datetime) and moment >= found.horizon:
        return False
    first = next((p.lower for p in found.wanted if p.kind == "range"), None)
    return found.cutoff is None or (isinstance(first, datetime) and moment >= first)


def _refuse_unless(spec: PartitionSpec, row: Doc, ok: bool, partition: Partition | None = None) -> None:
    if ok:
        return
    value = row.get(spec.key)
    where = f" ({partition.name} does not exist: run `dbplex partition maintain`)" if partition is not None else ""
    raise KeyOutOfRange(
        f"partitions {spec.label!r}: no partition takes {spec.key} = {value!r}{where}; no row was written"
    )


def _not_timeseries(spec: PartitionSpec, options: MongoPartitionOptions) -> str:
    wanted = render.timeseries_create(spec, options).text()
    return (
        f"collection {spec.target!r} exists as a regular collection, and MongoDB cannot turn a collection into a "
        f"time series: convert it with a migration that calls dbplex_mongo.partition_convert.timeseries_for(ctx, "
        f"spec) (it moves the documents through {spec.target}_regular into {wanted}), or drop it if it holds nothing"
    )


def _nothing(spec: PartitionSpec, action: Action) -> str:
    if action.kind == "create":
        return f"{spec.target} holds every partition: a virtual partition needs no collection of its own"
    return "already in line"


@contextmanager
def _database(pool: Pool) -> Iterator[Database[Doc]]:
    """A checkout of ``pool``, yielding its database in UTC."""
    with pool.connection() as db:
        yield db.with_options(codec_options=read.UTC)
