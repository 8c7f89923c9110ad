"""``dbplex new-plugin``: start a backend plugin package with every contract to fill in."""

from __future__ import annotations

from pathlib import Path

import click

from dbplex.cli.errors import reported


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Where to create the package (default: ./dbplex-NAME); must not exist, or be empty.",
)
def new_plugin(name: str, directory: Path | None) -> None:
    """Generate a backend plugin package: entry point, contract stubs, conformance tests, README.

    NAME is the backend's name (lowercase letters, digits, underscores: mariadb, my_db); the
    package is dbplex-NAME, the module dbplex_NAME, the URL scheme NAME (underscores become
    hyphens in the package and the scheme). Every part to write raises NotImplementedError, and
    the generated tests fail until it is written.
    """
    from dbplex.scaffold import generate

    with reported():
        target, files = generate(name, directory)
    click.echo(f"created {target}: the {name} backend plugin, {len(files)} files; next steps in its README.md")
