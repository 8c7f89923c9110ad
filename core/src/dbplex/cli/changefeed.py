"""What ``dbplex watch`` does: print a source's changes, one line each, as they happen.

Imported when the command runs, so ``dbplex --help`` imports none of it. Ctrl-C ends it with
exit code 0; the last line printed holds the position to resume from (``--after``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dbplex.cli.errors import reported

if TYPE_CHECKING:
    from dbplex.hub import Hub


def _line(change: object) -> str:
    """``POSITION  SOURCE.TABLE  OP  KEY  {values}``, the values as compact JSON."""
    import msgspec

    from dbplex.changes import Change
    from dbplex.codec import to_json

    assert isinstance(change, Change)
    values = msgspec.json.encode(to_json(change.values)).decode()
    return f"{change.position}  {change.source}.{change.table}  {change.op:6}  {change.key}  {values}"


def run(
    ctx: click.Context,
    target: str,
    tables: tuple[str, ...],
    *,
    after: str | None,
    count: int | None,
    timeout: float | None,
    install: bool,
    prune: bool,
    before: str | None,
    as_json: bool,
) -> None:
    """Watch ``target`` (``SOURCE.TABLE``, or ``SOURCE`` with ``--table``), or install its recording."""
    import msgspec

    from dbplex.cli.main import open_hub
    from dbplex.codec import to_json
    from dbplex.errors import ConfigError
    from dbplex.secrets import scrub

    source, _, table = target.partition(".")
    names = [table, *tables] if table else list(tables)
    with reported():
        if not names:
            raise ConfigError(f"no table to watch: name one as {source}.TABLE or with --table TABLE")
        _check_prune(prune, before, after=after, count=count, timeout=timeout, install=install)
        with open_hub(ctx) as hub:
            if source not in hub.sources:
                known = ", ".join(sorted(hub.sources)) or "none configured"
                raise ConfigError(f"unknown source {source!r} (configured: {known})")
            if install:
                feed = hub.change_feed(source)
                try:
                    for name in names:
                        feed.install(name)
                        click.echo(f"recording the changes of {source}.{name}")
                finally:
                    feed.close()
                return
            if before is not None:
                _prune(hub, source, names, before, as_json)
                return
            with hub.watch(source, names, after=after, timeout=timeout, count=count) as changes:
                try:
                    for change in changes:
                        if as_json:
                            encoded = msgspec.json.encode(
                                msgspec.structs.replace(change, values=to_json(change.values))
                            )
                            click.echo(scrub(encoded.decode()))
                        else:
                            click.echo(scrub(_line(change)))
                except KeyboardInterrupt:  # Ctrl-C is how it is meant to stop
                    return


def _check_prune(prune: bool, before: str | None, **others: object) -> None:
    """``--prune`` and ``--before`` go together, and with none of the options of watching."""
    from dbplex.errors import ConfigError

    if prune != (before is not None):
        raise ConfigError("--prune needs --before POSITION, and --before goes with --prune only")
    clashing = [f"--{name}" for name, value in others.items() if prune and value not in (None, False)]
    if clashing:
        raise ConfigError(f"--prune does not go with {', '.join(clashing)}")


def _prune(hub: Hub, source: str, tables: list[str], before: str, as_json: bool) -> None:
    """Delete the changes of ``tables`` up to ``before`` and say how many went."""
    import msgspec

    feed = hub.change_feed(source)
    try:
        count = feed.prune(tables, before)
    finally:
        feed.close()
    if as_json:
        report = {"source": source, "tables": tables, "before": before, "pruned": count}
        click.echo(msgspec.json.encode(report).decode())
    else:
        named = ", ".join(f"{source}.{table}" for table in tables)
        click.echo(f"pruned {count} changes of {named} up to {before}")
