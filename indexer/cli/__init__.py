"""The ``soundalike`` admin command line: one module per group of commands.

`indexing` writes the library, `similar` and `walks` query it, `browse` looks around, `model`
trains and evaluates the learned parts, `serve` starts the web service, `radio` follows MPD.

The group imports a command's module only when that command runs (or its own ``--help`` is
asked for): the modules between them pull in SQLAlchemy, FAISS, the audio analysis and
XGBoost, about a second of imports that ``--help`` and ``features`` have no use for. beets and
datasette load their commands the same way.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from indexer.settings import load_settings

# name -> ("module:attribute", one-line help). The help is the first paragraph of the command's
# docstring, kept here so the group's ``--help`` lists every command without importing it;
# tests/indexer/cli/test_lazy_commands.py fails when the two drift apart.
COMMANDS: dict[str, tuple[str, str]] = {
    "index": (
        "indexer.cli.indexing:index_cmd",
        "Index every audio file under ROOT; re-runs skip unchanged files and resume.",
    ),
    "add": (
        "indexer.cli.indexing:add_cmd",
        "Add (or refresh) tracks; a running service answers with them within a second.",
    ),
    "remove": (
        "indexer.cli.indexing:remove_cmd",
        "Remove songs by id or path (the files themselves are left alone).",
    ),
    "backfill": (
        "indexer.cli.indexing:backfill_cmd",
        "Compute the sound description of indexed songs that lack it; resumable.",
    ),
    "rebuild": (
        "indexer.cli.indexing:rebuild_cmd",
        "Recreate each space's vector index from the database (and compact a masked HNSW graph).",
    ),
    "similar": (
        "indexer.cli.similar:similar_cmd",
        "Songs that sound like REFS (ids or paths), with cosine score and genre.",
    ),
    "playlist": (
        "indexer.cli.walks:playlist_cmd",
        "A playlist that opens with SEEDS (ids or paths) and moves on in small steps.",
    ),
    "path": (
        "indexer.cli.walks:path_cmd",
        "A walk from START to END (ids or paths), each song closer to END than the one before.",
    ),
    "radio": (
        "indexer.cli.radio:radio_cmd",
        "Keep MPD's queue filled with songs like what has been playing; skips steer it.",
    ),
    "songs": ("indexer.cli.browse:songs_cmd", "List songs with their ids, genres and top tags."),
    "tags": (
        "indexer.cli.browse:tags_cmd",
        "The tags the networks predict: kind, networks, and songs that carry each.",
    ),
    "stats": (
        "indexer.cli.browse:stats_cmd",
        "Songs in the database, vectors in the index, genres, model version, data dir.",
    ),
    "features": (
        "indexer.cli.browse:features_cmd",
        "Print the 57 GTZAN features of audio files (filename first, table column order).",
    ),
    "train": (
        "indexer.cli.model:train_cmd",
        "Fit the genre model and the similarity metric, report cross-validated accuracy, "
        "relabel the library and re-index it when the metric changed.",
    ),
    "evaluate": (
        "indexer.cli.model:evaluate_cmd",
        "Score the neighbours on a labelled table, or on your own music (--audio, --library).",
    ),
    "serve": (
        "indexer.cli.serve:serve_cmd",
        "Serve the web page and JSON API with granian (a production HTTP server).",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name when they are first needed."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self.lazy[cmd_name][0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from the registry's help lines, importing none of them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy:
                short = click.utils.make_default_short_help(self.lazy[name][1], limit)
            else:
                short = self.commands[name].get_short_help_str(limit)
            rows.append((name, short))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
