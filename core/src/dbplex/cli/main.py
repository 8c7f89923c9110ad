"""``dbplex``: the command-line entry point.

Commands import what they need when they run, so ``dbplex --help`` loads no plugin and no
database driver.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from dbplex.cli.errors import fail, reported
from dbplex.cli.lazy import Lazy, LazyGroup


class Context:
    """What the group's options hand to each command."""

    __slots__ = ("config_path",)

    def __init__(self, config_path: str | None = None) -> None:
        self.config_path = config_path


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON (bytes as base64), secrets scrubbed."""
    import msgspec

    from dbplex.secrets import scrub

    click.echo(scrub(msgspec.json.format(msgspec.json.encode(data), indent=2).decode()))


#: the command groups, imported when they run (see :mod:`dbplex.cli.lazy`); each one-line help
#: is the group's own, which tests/cli checks.
SUBCOMMANDS = {
    "analyze": Lazy(
        "dbplex.cli.analyze:analyze",
        "Findings for each source (default: all) with evidence, severity and the action advised.",
    ),
    "bench": Lazy(
        "dbplex.cli.bench:bench",
        "Benchmark sources with YCSB workloads: dbplex against the raw drivers, pool sizes, reports.",
    ),
    "metrics": Lazy("dbplex.cli.metrics:metrics", "Operation and pool metrics: serve them for Prometheus."),
    "migrate": Lazy(
        "dbplex.cli.migrate:migrate",
        "Versioned and repeatable migrations for every source, with one history format and locks.",
    ),
    "new-plugin": Lazy(
        "dbplex.cli.new_plugin:new_plugin",
        "Generate a backend plugin package: entry point, contract stubs, conformance tests, README.",
    ),
    "partition": Lazy(
        "dbplex.cli.partition:partition",
        "Partitioned tables, collections and key families: create ahead, retire past retention.",
    ),
    "sandbox": Lazy(
        "dbplex.cli.sandbox:sandbox", "Throwaway local database servers, on loopback ports, for demos and tests."
    ),
    "schema": Lazy(
        "dbplex.cli.schema:schema",
        "Compare tables, collections and key families across sources; propose aligning migrations.",
    ),
}


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    envvar="DBPLEX_CONFIG",
    help="Configuration file (default: $DBPLEX_CONFIG, else ./dbplex.toml).",
)
@click.option("--debug", is_flag=True, help="On an error, also print the traceback (secrets still masked).")
@click.version_option(package_name="dbplex")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """dbplex: one configuration, pools, health and benchmarks for PostgreSQL, MongoDB and Redis."""
    ctx.obj = Context(config_path=config_path)


def open_hub(ctx: click.Context) -> Any:
    """Open the configured hub; errors surface as DbplexError for `reported()`."""
    import dbplex

    return dbplex.open(ctx.obj.config_path)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List installed plugins, their backends, hooks, capabilities and load errors."""
    import msgspec

    from dbplex import plugins as plugins_mod

    with reported():
        loaded = plugins_mod.default()
        loaded.resolve()  # every backend's targets, so a bad one is listed here (imports the drivers)
    data = {"plugins": loaded.describe(), "load_errors": [msgspec.to_builtins(e) for e in loaded.load_errors]}
    if as_json:
        emit_json(data)
        return
    from dbplex.cli import render

    render.plugins(data)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Check only these sources (repeatable).")
@click.option("--watch", is_flag=True, help="Check again every --interval and show it live, until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between checks (--watch).",
)
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="Stop after N refreshes (--watch).")
@click.pass_context
def health(
    ctx: click.Context, as_json: bool, sources: tuple[str, ...], watch: bool, interval: float, count: int | None
) -> None:
    """Check every source. Exit code 1 when a required source is DOWN (for probes)."""
    if watch and as_json:
        fail("--watch shows a live table and --json prints one report: use one of them")
    if not watch and count is not None:
        fail("--count counts the refreshes of --watch: add --watch")
    if watch:
        from dbplex.cli.watch import watch as watching

        with reported(), open_hub(ctx) as hub:
            last = watching(hub, list(sources) or None, interval, count)
        sys.exit(0 if last is None or last.ready else 1)
    with reported(), open_hub(ctx) as hub:
        report = hub.health(list(sources) or None)
    if as_json:
        emit_json(report)
    else:
        from dbplex.cli import render

        render.health(report)
    sys.exit(0 if report.ready else 1)


@cli.command()
@click.argument("source")
@click.argument("op_json", metavar="JSON")
@click.pass_context
def op(ctx: click.Context, source: str, op_json: str) -> None:
    """Run one operation given as JSON on SOURCE and print the result as JSON.

    \b
    Examples:
      dbplex op pg '{"op": "put", "table": "t", "key": "k1", "values": {"a": 1}}'
      dbplex op pg '{"op": "get", "table": "t", "key": "k1"}'
      dbplex op cache '{"op": "scan", "table": "t", "start_key": "", "limit": 10}'
    Pass - as JSON to read it from standard input.
    """
    from dbplex import ops

    raw = sys.stdin.buffer.read() if op_json == "-" else os.fsencode(op_json)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"op JSON: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); pass UTF-8 text")
    with reported(), open_hub(ctx) as hub:
        parsed = ops.decode(text, hub.backend(source).ops)
        result = hub.execute(source, parsed)
    emit_json(result.to_builtins())


@cli.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Entries read from each source."
)
@click.pass_context
def slowlog(ctx: click.Context, sources: tuple[str, ...], as_json: bool, limit: int) -> None:
    """Slowest operations each server keeps (pg_stat_statements, MongoDB profiler, Redis SLOWLOG), merged.

    Every configured source unless SOURCEs are named. A server that keeps none as configured is
    said in a note (exit 0); a source that fails to answer exits 1. Values are hidden unless the
    source's `slow.redact = false`.
    """
    from dbplex.slowlog.collect import collect

    with reported(), open_hub(ctx) as hub:
        report = collect(hub, list(sources), limit)
    if as_json:
        emit_json(report)
    else:
        from dbplex.cli import render

        render.slowlog(report)
    sys.exit(1 if any(note.level == "error" for note in report.notes) else 0)


@cli.command()
@click.argument("names", nargs=-1, metavar="[RULE]...")
@click.option("--checks", "checks_file", metavar="FILE", help="Read [checks.NAME] rules from FILE as well.")
@click.option(
    "--sample", default=10, show_default=True, type=click.IntRange(0, 10_000), help="Offending keys shown per rule."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def check(ctx: click.Context, names: tuple[str, ...], checks_file: str | None, sample: int, as_json: bool) -> None:
    """Check data-quality rules, references across sources and mirrors. Exit 1 when a rule fails."""
    from dbplex.cli.check import run

    run(ctx, names, checks_file, sample, as_json)


@cli.command()
@click.argument("source", metavar="SOURCE.TABLE")
@click.argument("target", metavar="TARGET.TABLE")
@click.option(
    "--map", "map_file", metavar="FILE", help="TOML: key, fields (renames) and watermark; default every field."
)
@click.option("--since", metavar="VALUE", help="Copy only rows whose watermark column is >= VALUE.")
@click.option("--watermark", metavar="COLUMN", help="The column --since compares (instead of the map's watermark).")
@click.option("--delete", is_flag=True, help="Remove target records whose key the source lacks.")
@click.option(
    "--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000), help="Rows per batch and checkpoint."
)
@click.option("--follow", is_flag=True, help="After the copy, apply the source's changes until Ctrl-C (change feed).")
@click.option("--count", type=click.IntRange(1), metavar="N", help="Stop following after N changes (--follow).")
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Stop following after SECONDS."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sync(ctx: click.Context, /, **options: Any) -> None:
    """Copy a table into another source's records, resumably, then check the mirror. Exit 1 when it differs.

    Without --map, every field but the key is copied under its own name. With --follow, the copy
    is not checked: the source's changes are applied after it (a deletion only with --delete)
    until Ctrl-C or SIGTERM, which exit 0.
    """
    from dbplex.cli.sync import run

    run(ctx, **options)


@cli.command()
@click.argument("target", metavar="SOURCE[.TABLE]")
@click.option("--table", "tables", multiple=True, metavar="TABLE", help="Watch this table too (repeatable).")
@click.option("--after", metavar="POSITION", help="Start after this position (a change's own); default: from now.")
@click.option("--count", type=click.IntRange(1), metavar="N", help="Stop after N changes.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Stop after SECONDS.")
@click.option("--install", is_flag=True, help="Start recording the table's changes (once), then exit.")
@click.option("--prune", is_flag=True, help="Delete the recorded changes up to --before, then exit.")
@click.option("--before", metavar="POSITION", help="With --prune: the position every reader has stored (kept from).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.pass_context
def watch(ctx: click.Context, /, **options: Any) -> None:
    """Print each insert, update and delete of a source's tables as it happens, until Ctrl-C.

    --prune --before POSITION deletes the recorded changes up to and including POSITION; a
    watch resumed --after an older position is then refused (exit 2) rather than skipping them.
    """
    from dbplex.cli.changefeed import run

    run(ctx, **options)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        fail("interrupted", 130)


if __name__ == "__main__":
    main()
