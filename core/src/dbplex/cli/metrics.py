"""``dbplex metrics serve``: the configured sources' metrics for Prometheus to scrape."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import click

from dbplex.cli.errors import fail, reported

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """wsgiref prints every request on stderr; a scrape every few seconds is not news."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


@click.group()
def metrics() -> None:
    """Operation and pool metrics: serve them for Prometheus."""


@metrics.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9464,
    show_default=True,
    help="Port to listen on (0: any free one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.pass_context
def serve(ctx: click.Context, port: int, host: str) -> None:
    """Serve /metrics in the Prometheus text format until stopped, from a hub on the configuration.

    Needs `[metrics] enabled = true` and the `dbplex[prometheus]` extra.
    """
    if importlib.util.find_spec("prometheus_client") is None:
        fail("prometheus_client is not installed: pip install 'dbplex[prometheus]'")
    import dbplex
    from dbplex.metrics import prometheus_app

    with reported(), dbplex.open(ctx.obj.config_path) as hub:
        app = prometheus_app(hub)
        with make_server(host, port, app, handler_class=_QuietHandler) as server:
            click.echo(f"serving metrics on http://{host}:{server.server_port}/metrics", err=True)
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is meant to stop
                server.serve_forever()
