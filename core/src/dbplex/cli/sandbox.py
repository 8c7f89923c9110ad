"""``dbplex sandbox``: throwaway local PostgreSQL, Redis and MongoDB servers."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
import msgspec

import dbplex.sandbox as api
from dbplex.cli.errors import reported
from dbplex.sandbox import records

_directory = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=api.DEFAULT_DIR,
    show_default=True,
    help="Sandbox directory: state, data, logs and dbplex.toml.",
)


def _table(sandbox: api.Sandbox) -> None:
    for server in sandbox.servers:
        state = "running" if server.is_running() else "stopped"
        click.echo(f"{server.name:<15} {server.kind:<13} {state:<8} pid {server.pid:<7} {server.url}")
    for cluster, url in sandbox.urls.items():
        if cluster in sandbox.clusters():
            click.echo(f"{cluster:<15} {'cluster':<13} {'':<8} {'':<11} {url}")


@click.group()
def sandbox() -> None:
    """Throwaway local database servers, on loopback ports, for demos and tests."""


@sandbox.command()
@_directory
@click.option(
    "--server",
    "-s",
    "servers",
    multiple=True,
    type=click.Choice(list(api.ENGINES)),
    help="Start only this server (repeatable). Default: all.",
)
@click.option(
    "--pg-replicas",
    type=click.IntRange(min=0),
    default=0,
    help="Also start N streaming replicas of pg (pg-replica1, ...), listed in its `replicas`.",
)
@click.option(
    "--redis-cluster",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Also start a Redis Cluster of N >= 3 masters (redis-cluster1, ...).",
)
def up(directory: Path, servers: tuple[str, ...], pg_replicas: int, redis_cluster: int) -> None:
    """Start the servers and write DIR/dbplex.toml."""
    with reported():
        started = api.up(
            directory, servers=servers or tuple(api.ENGINES), pg_replicas=pg_replicas, redis_cluster=redis_cluster
        )
    _table(started)
    click.echo(f"config: {started.config_path}")
    click.echo(f'shell:  eval "$(dbplex sandbox env --dir {shlex.quote(str(directory))})"')


@sandbox.command()
@_directory
def down(directory: Path) -> None:
    """Stop the servers and remove DIR with their data."""
    with reported():
        found = api.status(directory)
        api.down(directory)
    click.echo(f"removed sandbox {found.directory}" if found else f"no sandbox in {directory}")


@sandbox.command()
@_directory
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(directory: Path, as_json: bool) -> None:
    """Show the servers. Exit code 0 if all run, 1 if not (or if there is no sandbox)."""
    with reported():
        found = api.status(directory)
    running = found is not None and found.is_running()
    if as_json:
        servers = [msgspec.structs.asdict(s) | {"running": s.is_running()} for s in found.servers] if found else []
        document = {
            "directory": str(found.directory if found else directory.absolute()),
            "running": running,
            "config": str(found.config_path) if found else None,
            "servers": servers,
        }
        click.echo(records.encoder.encode(document))
    elif found is None:
        click.echo(f"no sandbox in {directory}")
    else:
        _table(found)
    sys.exit(0 if running else 1)


@sandbox.command()
@_directory
@click.argument("name")
def stop(directory: Path, name: str) -> None:
    """Stop one server, NAME as `status` lists it, keeping its data (for fault drills)."""
    with reported():
        server = api.stop_server(directory, name)
    click.echo(f"stopped {server.name} (pid {server.pid})")


@sandbox.command()
@_directory
@click.argument("name")
def start(directory: Path, name: str) -> None:
    """Start a stopped server again on its data and port; returns once it answers."""
    with reported():
        server = api.start_server(directory, name)
    click.echo(f"started {server.name} (pid {server.pid}) {server.url}")


@sandbox.command()
@_directory
def env(directory: Path) -> None:
    """Print export lines for DBPLEX_CONFIG and DBPLEX_TEST_*_URL; use with eval."""
    with reported():
        found = api.status(directory)
        if found is None or not found.is_running():
            raise api.SandboxError(
                f"no running sandbox in {directory}; start one with "
                f"`dbplex sandbox up --dir {shlex.quote(str(directory))}`"
            )
    for name, value in found.environ().items():
        click.echo(f"export {name}={shlex.quote(value)}")
