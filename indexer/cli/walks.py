"""The ``soundalike playlist`` and ``soundalike path`` commands: walks through the library."""

from __future__ import annotations

import json
from pathlib import Path

import click

from db.models import Song
from indexer.cli.context import display_song, library_of
from indexer.cli.similar import click_option
from indexer.errors import IndexerError
from indexer.limits import MAX_K, MAX_PATH_STEPS, MAX_PLAYLIST_LENGTH
from indexer.recommend.options import SPACE
from indexer.walks.m3u import write_m3u8
from indexer.walks.path import DIRECTIONS, find_path
from indexer.walks.playlist import build_playlist


def _score(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.3f}"


def _smoothness(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _write(songs: list[Song], out: Path | None) -> None:
    if out is not None:
        written = write_m3u8(songs, out)
        click.echo(f"Wrote {written} ({len(songs)} songs).")


out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write an M3U8 playlist here, paths relative to its folder.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
space_option = click_option(SPACE)


@click.command("playlist")
@click.argument("seeds", nargs=-1)
@click.option(
    "--tags",
    "profile",
    help="Also start from the songs that best match these tags (comma-separated).",
)
@click.option(
    "--length", type=click.IntRange(1, MAX_PLAYLIST_LENGTH), default=25, show_default=True
)
@click.option(
    "--max-per-artist",
    type=click.IntRange(1, MAX_K),
    help="At most this many songs by one artist, seeds included (default: no cap).",
)
@space_option
@out_option
@json_option
@click.pass_context
def playlist_cmd(
    ctx: click.Context,
    seeds: tuple[str, ...],
    profile: str | None,
    length: int,
    max_per_artist: int | None,
    space: str | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """A playlist that opens with SEEDS (ids or paths) and moves on in small steps.

    With --tags chill,electronic the songs that best match the tags are seeds too (up to five
    that carry them all), so no SEEDS are needed.
    """
    from indexer.model.tags import normalize_tags, split_tags
    from indexer.recommend.candidates import profile_seeds

    if not seeds and not profile:
        raise click.UsageError("give SEEDS (ids or paths), --tags, or both")
    library = library_of(ctx)
    try:
        seed_ids = [library.resolve_song(ref).id for ref in seeds]
        if profile:
            try:
                tags = normalize_tags(split_tags([profile]))
            except IndexerError as exc:
                raise click.BadParameter(
                    f"{exc}; 'soundalike tags' lists the known tags", param_hint="'--tags'"
                ) from None
            seed_ids += profile_seeds(library, tags, skip=seed_ids)
            if not seed_ids:
                raise click.ClickException("no song has tags yet: the network has described none")
        if len(set(seed_ids)) > length:
            raise click.BadParameter(f"{len(set(seed_ids))} seeds do not fit in {length} songs")
        space = library.answering_space(space, seeds=seed_ids)
        playlist = build_playlist(
            library, seed_ids, length=length, max_per_artist=max_per_artist, space=space
        )
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    songs = [entry.song for entry in playlist.entries]
    if as_json:
        entries = [
            {
                "id": e.song.id,
                "title": e.song.title,
                "artist": e.song.artist,
                "path": e.song.path,
                "seed": e.seed,
                "similarity_to_previous": e.similarity_to_previous,
                "similarity_to_seeds": e.similarity_to_seeds,
            }
            for e in playlist.entries
        ]
        payload = {"space": space, "smoothness": playlist.smoothness, "songs": entries}
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(f"Space: {space}")
        click.echo(f"{'#':>3} {'id':>6} {'prev':>6} {'seeds':>6}  song")
        for rank, e in enumerate(playlist.entries, 1):
            mark = " (seed)" if e.seed else ""
            click.echo(
                f"{rank:>3} {e.song.id:>6} {_score(e.similarity_to_previous)} "
                f"{_score(e.similarity_to_seeds)}  {display_song(e.song)}{mark}"
            )
        if len(songs) < length:
            click.echo(f"Only {len(songs)} of {length} songs: the library or the cap ran out.")
        click.echo(f"Smoothness: {_smoothness(playlist.smoothness)} (mean cosine of neighbours)")
    _write(songs, out)


@click.command("path")
@click.argument("start")
@click.argument("end")
@click.option("--steps", type=click.IntRange(1, MAX_PATH_STEPS), default=10, show_default=True)
@click.option("--direction", type=click.Choice(DIRECTIONS), help="Keep the tempo moving one way.")
@space_option
@out_option
@json_option
@click.pass_context
def path_cmd(
    ctx: click.Context,
    start: str,
    end: str,
    steps: int,
    direction: str | None,
    space: str | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """A walk from START to END (ids or paths), each song closer to END than the one before."""
    library = library_of(ctx)
    try:
        a, b = library.resolve_song(start), library.resolve_song(end)
        space = library.answering_space(space, seeds=[a.id, b.id])
        path = find_path(library, a.id, b.id, steps=steps, direction=direction, space=space)
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        payload = {
            "space": space,
            "smoothness": path.smoothness,
            "path": [
                {
                    "id": s.song.id,
                    "title": s.song.title,
                    "artist": s.song.artist,
                    "path": s.song.path,
                    "tempo_bpm": s.tempo_bpm,
                    "similarity_to_previous": s.similarity_to_previous,
                    "similarity_to_goal": s.similarity_to_goal,
                }
                for s in path.steps
            ],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(f"Space: {space}")
        click.echo(f"{'#':>3} {'id':>6} {'prev':>6} {'goal':>6} {'BPM':>6}  song")
        for rank, s in enumerate(path.steps, 1):
            click.echo(
                f"{rank:>3} {s.song.id:>6} {_score(s.similarity_to_previous)} "
                f"{s.similarity_to_goal:6.3f} {s.tempo_bpm:6.1f}  {display_song(s.song)}"
            )
        click.echo(f"Smoothness: {_smoothness(path.smoothness)} (mean cosine of neighbours)")
    _write([s.song for s in path.steps], out)
