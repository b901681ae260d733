"""Writing the library: ``index`` a folder, ``add`` and ``remove`` songs, ``backfill`` the sound
description, ``rebuild`` the index."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tqdm import tqdm

from indexer.cli.context import EXIT_SKIPPED, library_of, print_skipped, settings_of
from indexer.errors import IndexerError
from indexer.ingest.scan import AUDIO_EXTENSIONS, expand_paths, has_audio, scan_library

if TYPE_CHECKING:
    from indexer.vectors.store import Manifest

# What a fresh data dir's first run does before it reads a file; the time is the one measured
# on 2 busy cores (about 20 s) and varies with the machine.
TRAINING_MESSAGE = (
    "Training the genre model on the GTZAN table before indexing (first run only, about 20 s)."
)


class TrainingReport:
    """Says on stderr that the genre model is being trained, with a bar over its fits.

    Called by the model layer's `FitProgress` hook, from its pool's threads (tqdm locks).
    """

    def __init__(self, *, bar: bool) -> None:
        self.show_bar = bar
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            click.echo(TRAINING_MESSAGE, err=True)
            self.bar = tqdm(
                total=total, unit="fit", desc="genre model", disable=not self.show_bar, leave=False
            )
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()


def _no_audio(paths: list[Path], *, nothing_done: str) -> click.ClickException:
    """The error for command-line paths that hold no audio, raised before anything changes.

    Exit status 1 like the other errors. An empty folder can be a share that is not mounted,
    and indexing it as empty would remove every song indexed from it.
    """
    return click.ClickException(
        f"no audio files found in {', '.join(map(str, paths))} (looked for files named "
        f"{' '.join(sorted(AUDIO_EXTENSIONS))}, following folder symlinks). {nothing_done}"
    )


@click.command("index")
@click.argument("root", type=click.Path(exists=True, path_type=Path))
@click.option("--workers", "-j", type=click.IntRange(min=1), help="Processes (default: all cores).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Analyse on a Dask distributed cluster (tcp://HOST:8786) instead of local processes.",
)
@click.pass_context
def index_cmd(
    ctx: click.Context,
    root: Path,
    workers: int | None,
    batch_size: int,
    progress: bool,
    scheduler: str | None,
) -> None:
    """Index every audio file under ROOT; re-runs skip unchanged files and resume.

    Folder symlinks are followed, and a file reachable by several paths is indexed once.
    """
    # Imported here, not at the top: the pipeline brings the audio analysis and its decoders, which
    # ``remove`` and ``rebuild`` (same module) never use.
    from indexer.ingest.pipeline import index_paths

    root = Path(os.path.abspath(root))
    paths = scan_library(root)
    if not paths:
        raise _no_audio([root], nothing_done="Nothing was indexed or removed.")
    library = library_of(ctx)
    report = index_paths(
        library,
        paths,
        root=root,
        workers=workers or settings_of(ctx).workers,
        batch_size=batch_size,
        progress=progress,
        scheduler=scheduler,
        training_progress=TrainingReport(bar=progress),
    )
    # The preparation (a first run's training, the kernels) is not the scan's own speed.
    prepared = f" after {report.prepared_s:.1f} s preparing" if report.prepared_s else ""
    click.echo(
        f"Scanned {report.scanned} file(s) in {report.elapsed_s - report.prepared_s:.1f} s"
        f"{prepared}: "
        f"{report.added} added, {report.updated} updated, {report.moved} moved, "
        f"{report.removed} removed, {report.unchanged} unchanged, {len(report.skipped)} skipped."
    )
    if report.refreshed:
        click.echo(f"{report.refreshed} retagged song(s) refreshed (audio unchanged, kept).")
    if report.described:
        click.echo(
            f"{report.described} unchanged song(s) given the sound description "
            f"({report.too_short} too short for it)."
        )
    print_indexes(report.manifests)
    print_skipped(report.skipped)
    if report.skipped:
        ctx.exit(EXIT_SKIPPED)


@click.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def add_cmd(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Add (or refresh) tracks; a running service answers with them within a second."""
    from indexer.ingest.pipeline import index_paths  # the analysis, only for commands that analyse

    empty = [path for path in paths if path.is_dir() and not has_audio(path)]
    if empty:
        raise _no_audio(empty, nothing_done="Nothing was added.")
    library = library_of(ctx)
    files = expand_paths(paths)
    report = index_paths(
        library,
        files,
        workers=min(len(files), settings_of(ctx).workers),
        training_progress=TrainingReport(bar=False),
    )
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.refreshed} refreshed, "
        f"{report.unchanged} unchanged, {len(report.skipped)} skipped."
    )
    print_skipped(report.skipped)
    if report.skipped:
        ctx.exit(EXIT_SKIPPED)


@click.command("backfill")
@click.option("--workers", "-j", type=click.IntRange(min=1), help="Processes (default: all cores).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Songs per commit: an interruption loses at most one batch.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Describe on a Dask distributed cluster (tcp://HOST:8786) instead of local processes.",
)
@click.pass_context
def backfill_cmd(
    ctx: click.Context,
    workers: int | None,
    batch_size: int,
    progress: bool,
    scheduler: str | None,
) -> None:
    """Compute the sound description of indexed songs that lack it; resumable.

    Songs indexed before the network description existed, or under an older version of it,
    get it from the same 30-s window their features came from; the 57 features are not
    computed again. Each batch is committed as it finishes, so after an interruption a new
    run carries on with what is left. A clip shorter than the network's 3-s patch is recorded
    as such and not tried again. Files that are missing, unreadable or changed since they were
    indexed are listed and skipped (``soundalike index`` removes or re-analyses them).
    """
    from indexer.ingest.backfill import backfill_sounds  # the analysis and onnxruntime, see above

    library = library_of(ctx)
    report = backfill_sounds(
        library,
        workers=workers or settings_of(ctx).workers,
        batch_size=batch_size,
        progress=progress,
        scheduler=scheduler,
        training_progress=TrainingReport(bar=progress),
    )
    if not report.scanned:
        click.echo("Every song already has the sound description.")
        return
    click.echo(
        f"Described {report.described} of {report.scanned} song(s) in "
        f"{report.elapsed_s - report.prepared_s:.1f} s ({report.too_short} too short for the "
        f"network, recorded so), {len(report.skipped)} skipped."
    )
    missing = library.count_missing_embeddings()
    click.echo(
        "The sound description is complete."
        if missing == 0
        else f"{missing} song(s) still lack the sound description."
    )
    print_skipped(report.skipped)
    if report.skipped:
        click.echo(
            "Skipped songs stay without it: `soundalike index` removes the songs whose files are "
            "gone and analyses changed files again.",
            err=True,
        )
    if report.skipped:
        ctx.exit(EXIT_SKIPPED)


@click.command("remove")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def remove_cmd(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Remove songs by id or path (the files themselves are left alone)."""
    library = library_of(ctx)
    try:
        songs = [library.resolve_song(ref) for ref in refs]
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    removed = library.remove_songs(song.id for song in songs)
    library.sync_indexes()
    for song in songs:
        click.echo(f"Removed {song.id}: {song.path}")
    click.echo(f"{removed} song(s) removed.")


@click.command("rebuild")
@click.option(
    "--kind",
    type=click.Choice(["auto", "flat", "ivf", "ivf-sq8", "hnsw"]),
    help="Index kind for this rebuild (default: $SOUNDALIKE_INDEX_KIND, else auto by size).",
)
@click.pass_context
def rebuild_cmd(ctx: click.Context, kind: str | None) -> None:
    """Recreate each space's vector index from the database (and compact a masked HNSW graph)."""
    try:
        manifests = library_of(ctx).rebuild_indexes(kind=kind)
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    for space, manifest in manifests.items():
        params = ", ".join(f"{key} {value}" for key, value in manifest.params.items())
        click.echo(
            f"Index {space}, generation {manifest.generation}: {manifest.count} songs, "
            f"{manifest.kind}" + (f" ({params})." if params else ".")
        )


def print_indexes(manifests: Mapping[str, Manifest]) -> None:
    """One line per space: its generation, its songs, and those it lacks."""
    for space, manifest in manifests.items():
        lacking = f" ({manifest.missing} without a {space} vector yet)" if manifest.missing else ""
        click.echo(
            f"Index {space}, generation {manifest.generation}: {manifest.count} songs{lacking}."
        )
