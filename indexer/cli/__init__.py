"""The ``soundalike`` admin command line: one module per group of commands.

`indexing` writes the library, `similar` and `walks` query it, `browse` looks around, `model`
trains and evaluates the learned parts, `serve` starts the web service.
"""

from __future__ import annotations

from pathlib import Path

import click

from indexer.cli.browse import features_cmd, songs_cmd, stats_cmd
from indexer.cli.indexing import add_cmd, index_cmd, rebuild_cmd, remove_cmd
from indexer.cli.model import evaluate_cmd, train_cmd
from indexer.cli.serve import serve_cmd
from indexer.cli.similar import similar_cmd
from indexer.cli.walks import path_cmd, playlist_cmd
from indexer.settings import load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the database, index and model (default: $SOUNDALIKE_DATA_DIR).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Soundalike: find the songs in your library that sound like a song."""
    overrides = {"data_dir": data_dir} if data_dir else {}
    ctx.ensure_object(dict)
    ctx.obj["settings"] = load_settings(overrides=overrides)


main.add_command(index_cmd)
main.add_command(add_cmd)
main.add_command(remove_cmd)
main.add_command(rebuild_cmd)
main.add_command(similar_cmd)
main.add_command(playlist_cmd)
main.add_command(path_cmd)
main.add_command(songs_cmd)
main.add_command(stats_cmd)
main.add_command(features_cmd)
main.add_command(train_cmd)
main.add_command(evaluate_cmd)
main.add_command(serve_cmd)
