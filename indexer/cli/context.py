"""What every command shares: the settings, the one `Library`, and how songs and skips print."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from db.models import Song
    from db.repo import SongRow
    from indexer.audio.analyse import Skipped
    from indexer.library import Library
    from indexer.settings import Settings

# Exit status when the run finished but some files were skipped (reported on stderr).
EXIT_SKIPPED = 3


def settings_of(ctx: click.Context) -> Settings:
    """The settings the ``soundalike`` group resolved once, for every command."""
    return ctx.find_root().obj["settings"]


def library_of(ctx: click.Context) -> Library:
    """The run's one `Library`, opened on first use and closed when the command ends."""
    # Imported here, not at the top: `Library` brings SQLAlchemy and FAISS, which commands that
    # never open the library (``features``, ``--help``) should not pay for.
    from indexer.library import Library

    obj = ctx.find_root().obj
    if "library" not in obj:
        library = Library(obj["settings"])
        obj["library"] = library
        ctx.find_root().call_on_close(library.close)
    return obj["library"]


def display_song(song: Song) -> str:
    """``artist - title``, or the title alone when the artist is unknown."""
    return f"{song.artist} - {song.title}" if song.artist else song.title


def display_tags(song: Song | SongRow) -> str:
    """A song's top tags with their probabilities (``rock 0.52, guitar 0.41``); empty if none."""
    from indexer.model.tags import top_tags

    return ", ".join(f"{t.tag} {t.probability:.2f}" for t in top_tags(song.tag_vector))


def print_skipped(skipped: list[Skipped]) -> None:
    """List the files a run skipped, with their reasons, on stderr."""
    if not skipped:
        return
    click.echo(f"\nSkipped {len(skipped)} file(s):", err=True)
    for item in skipped:
        click.echo(f"  {item.path}: {item.reason}", err=True)
