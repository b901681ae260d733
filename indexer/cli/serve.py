"""``soundalike serve``: the web page and JSON API under granian."""

from __future__ import annotations

import os
import sys

import click

from indexer.cli.context import library_of, settings_of


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", "-w", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Requests each worker runs at once. Two keep an upload's analysis (up to a minute) "
    "from holding up its worker; more only lengthen the slowest answers (docs/performance.md).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One line per request on standard output.",
)
@click.pass_context
def serve_cmd(
    ctx: click.Context, host: str, port: int, workers: int, threads: int, access_log: bool
) -> None:
    """Serve the web page and JSON API with granian (a production HTTP server)."""
    settings = settings_of(ctx)
    library = library_of(ctx)
    library.load_index()  # build or check the index before workers start answering
    env = dict(os.environ, SOUNDALIKE_DATA_DIR=str(settings.data_dir))
    env["DATABASE_URL"] = settings.database_url
    click.echo(f"Serving {settings.data_dir} on http://{host}:{port}/")
    args = [
        sys.executable, "-m", "granian",
        "--interface", "wsgi",
        "--no-ws",
        "--factory", "service:create_app",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--blocking-threads", str(threads),
        "--respawn-failed-workers",
        "--access-log" if access_log else "--no-access-log",
    ]  # fmt: skip
    os.execve(sys.executable, args, env)
