"""Looking around: the ``songs`` and ``stats`` of the library, the ``features`` of audio files."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
import numpy as np

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.cli.context import EXIT_SKIPPED, display_song, display_tags, library_of, settings_of
from indexer.errors import FileError
from indexer.limits import MAX_PAGE


@click.command("songs")
@click.option("-q", "query", default=None, help="Text in title, artist or album.")
@click.option("--limit", type=click.IntRange(1, MAX_PAGE), default=50, show_default=True)
@click.pass_context
def songs_cmd(ctx: click.Context, query: str | None, limit: int) -> None:
    """List songs with their ids, genres and top tags."""
    library = library_of(ctx)
    songs, total = library.search_songs(q=query, limit=limit, offset=0)
    for song in songs:
        click.echo(f"{song.id:>6}  {song.genre or '?':<10} {display_song(song)}")
        tags = display_tags(song)
        if tags:
            click.echo(f"{'':>18}tags: {tags}")
    click.echo(f"{len(songs)} of {total} song(s).")


@click.command("stats")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stats_cmd(ctx: click.Context, as_json: bool) -> None:
    """Songs in the database, vectors in the index, genres, model version, data dir.

    Also says how many songs lack the sound description (``soundalike backfill`` adds it).
    """
    library = library_of(ctx)
    stats = library.stats()
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"Data dir:       {stats['data_dir']}")
    click.echo(f"Database:       {stats['database']}")
    click.echo(f"Songs:          {stats['songs']}")
    click.echo(f"Indexed:        {stats['indexed']} (generation {stats['index_generation']})")
    click.echo(f"Genre model:    {stats['model_version']}")
    sound = stats["sound_space"]
    if sound["complete"]:
        click.echo("Sound space:    complete")
    else:
        click.echo(
            f"Sound space:    {sound['missing']} song(s) lack the sound description; "
            "run `soundalike backfill`"
        )
    for genre, n in sorted(stats["genres"].items(), key=lambda kv: -kv[1]):
        click.echo(f"  {genre:<12} {n}")


@click.command("tags")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def tags_cmd(ctx: click.Context, as_json: bool) -> None:
    """The tags the networks predict: kind, networks, and songs that carry each."""
    from indexer.model.tags import TAG_KINDS, TAG_THRESHOLD, TAG_VOCABULARY, tag_models

    tagged, counts = library_of(ctx).tag_counts()
    rows = [
        {"tag": t, "kind": TAG_KINDS[t], "models": list(tag_models(t)), "songs": counts[t]}
        for t in TAG_VOCABULARY
    ]
    if as_json:
        payload = {"threshold": TAG_THRESHOLD, "songs_with_tags": tagged, "tags": rows}
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"{tagged} song(s) have tags; a song carries a tag at probability {TAG_THRESHOLD}.")
    click.echo(f"{'tag':<18} {'kind':<11} {'songs':>6}  networks")
    for row in rows:
        networks = " ".join(m.split("_")[0] for m in row["models"])
        click.echo(f"{row['tag']:<18} {row['kind']:<11} {row['songs']:>6}  {networks}")


@click.command("features")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.pass_context
def features_cmd(ctx: click.Context, paths: tuple[Path, ...], fmt: str) -> None:
    """Print the 57 GTZAN features of audio files (filename first, table column order)."""
    # Imported here so ``features --help`` and ``songs`` do not load the audio analysis.
    from indexer.audio.features import extract_file_features

    window_s = settings_of(ctx).window_s
    rows: list[tuple[str, np.ndarray]] = []
    failed = False
    for path in paths:
        try:
            values, _ = extract_file_features(path, window_s=window_s)
        except FileError as exc:
            click.echo(f"skipped {exc.path}: {exc.reason}", err=True)
            failed = True
            continue
        rows.append((path.name, values))
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["filename", *FEATURE_NAMES])
        for name, values in rows:
            writer.writerow([name, *(repr(float(v)) for v in values)])
    else:
        payload = [
            {"filename": name, **dict(zip(FEATURE_NAMES, map(float, values), strict=True))}
            for name, values in rows
        ]
        click.echo(json.dumps(payload, indent=2))
    if failed:
        ctx.exit(EXIT_SKIPPED)
