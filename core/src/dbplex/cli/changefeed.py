"""What ``dbplex watch`` does: print a source's changes, one line each, as they happen.

Imported when the command runs, so ``dbplex --help`` imports none of it. Ctrl-C ends it with
exit code 0; the last line printed holds the position to resume from (``--after``).
"""

from __future__ import annotations

import click

from dbplex.cli.errors import reported


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
