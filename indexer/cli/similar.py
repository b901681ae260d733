"""``soundalike similar``: neighbours of one or more songs, re-ranked as the options ask.

The command's options map one to one onto the HTTP query parameters (see the README), and the
query goes through the same `indexer.recommend.candidates` functions as the service.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from db.models import Song
from indexer.cli.context import display_song, library_of
from indexer.errors import IndexerError
from indexer.library import Library
from indexer.recommend.candidates import (
    Context,
    Recommendation,
    explain_neighbours,
    recommend_for_seeds,
)
from indexer.recommend.hub_scores import HubCache
from indexer.recommend.rerank import RerankOptions

RERANK_OPTIONS = [
    click.option("--genre", default=None, help="Keep only neighbours predicted as GENRE."),
    click.option("--tempo-min", "tempo_min_bpm", type=float, default=None, help="BPM."),
    click.option("--tempo-max", "tempo_max_bpm", type=float, default=None, help="BPM."),
    click.option("--duration-min", "duration_min_s", type=float, default=None, help="Seconds."),
    click.option("--duration-max", "duration_max_s", type=float, default=None, help="Seconds."),
    click.option("--exclude", type=int, multiple=True, help="Song id never to return."),
    click.option("--max-per-artist", type=click.IntRange(1, 1000), default=None),
    click.option("--max-per-album", type=click.IntRange(1, 1000), default=None),
    click.option("--dedupe", is_flag=True, help="Drop near-duplicates (same audio or title)."),
    click.option(
        "--mmr-lambda",
        type=click.FloatRange(0.0, 1.0),
        default=1.0,
        show_default=True,
        help="Maximal marginal relevance; lower values diversify.",
    ),
    click.option("--hubness", is_flag=True, help="Rank by CSLS (demotes hub songs)."),
    click.option("--not", "negatives", type=int, multiple=True, help="Song id to steer away from."),
    click.option("--mode", type=click.Choice(["centroid", "union"]), default="centroid"),
    click.option("--explain", is_flag=True, help="Split each score over feature groups."),
    click.option("--explain-drops", is_flag=True, help="List what re-ranking dropped."),
]


def with_rerank_options(command):  # type: ignore[no-untyped-def]
    """Add the re-ranking options to a click command."""
    for option in reversed(RERANK_OPTIONS):
        command = option(command)
    return command


def similar_to_songs(
    library: Library, seeds: Sequence[Song], *, k: int, options: RerankOptions, **query: Any
) -> tuple[list[Song], Recommendation]:
    """The seed songs and their re-ranked neighbours, on the saved index."""
    index, manifest = library.load_index()
    ctx = Context(library, index, generation=manifest.generation, hubs=HubCache())
    return recommend_for_seeds(ctx, [s.id for s in seeds], k=k, options=options, **query)


@click.command("similar")
@click.argument("refs", nargs=-1, required=True)
@click.option("-k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_rerank_options
@click.pass_context
def similar_cmd(
    ctx: click.Context,
    refs: tuple[str, ...],
    k: int,
    as_json: bool,
    negatives: tuple[int, ...],
    mode: str,
    explain: bool,
    explain_drops: bool,
    exclude: tuple[int, ...],
    **rerank: Any,
) -> None:
    """Songs that sound like REFS (ids or paths), with cosine score and genre.

    Several REFS search near all of them (--mode centroid) or give each an equal share
    (--mode union); --not steers away from songs. The other options re-rank the list.
    """
    library = library_of(ctx)
    options = RerankOptions(exclude=frozenset(exclude), **rerank)
    try:
        seeds = [library.resolve_song(ref) for ref in refs]
        seeds, result = similar_to_songs(
            library, seeds, k=k, options=options, negatives=list(negatives), mode=mode
        )
        explained = explain_neighbours(library, seeds, result.neighbours) if explain else []
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    neighbours = result.neighbours
    if as_json:
        items = [{**_song_summary(n.song), "score": round(n.score, 6)} for n in neighbours]
        for item, (seed_id, why) in zip(items, explained, strict=False):
            item["explanation"] = {"seed": seed_id, "cosine": why.cosine, "parts": why.parts}
            item["explanation"]["summary"] = why.summary
        payload: dict[str, Any] = {"song": _song_summary(seeds[0]), "neighbours": items}
        if len(seeds) > 1:
            payload["seeds"] = [_song_summary(s) for s in seeds]
        if explain_drops:
            payload["dropped"] = [vars(d) for d in result.dropped]
        click.echo(json.dumps(payload, indent=2))
        return
    like = ", ".join(f"{s.id}: {display_song(s)} [{s.genre}]" for s in seeds)
    click.echo(f"Like {like}")
    click.echo(f"{'#':>3} {'id':>6} {'score':>6}  {'genre':<16} song")
    for rank, n in enumerate(neighbours, 1):
        genre = f"{n.song.genre} {n.song.genre_confidence or 0:.2f}"
        click.echo(f"{rank:>3} {n.song.id:>6} {n.score:6.3f}  {genre:<16} {display_song(n.song)}")
        if explain:
            click.echo(f"{'':>18}{explained[rank - 1][1].summary}")
    if explain_drops:
        for d in result.dropped:
            click.echo(f"dropped {d.id}: {d.reason} ({d.detail})")


def _song_summary(song: Song) -> dict:
    return {
        "id": song.id,
        "title": song.title,
        "artist": song.artist,
        "path": song.path,
        "genre": {"label": song.genre, "confidence": song.genre_confidence},
    }
