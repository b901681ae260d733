"""``soundalike similar``: neighbours of one or more songs, re-ranked as the options ask.

The command's options come from the declaration the HTTP query parameters come from
(`indexer.recommend.options`), so both take the same values within the same limits, and the
query goes through the same `indexer.recommend.candidates` functions as the service.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from db.models import Song
from indexer.cli.context import display_song, display_tags, library_of
from indexer.errors import IndexerError, ParameterError
from indexer.library import Library
from indexer.limits import MAX_IDS
from indexer.model.tags import normalize_tags, split_tags, top_tags
from indexer.recommend.candidates import (
    Context,
    Recommendation,
    explain_neighbours,
    recommend_for_seeds,
)
from indexer.recommend.hub_scores import HubCache
from indexer.recommend.options import (
    RERANK,
    SEEDS,
    SPACE,
    K,
    NeighbourQuery,
    Parameter,
    known_genres,
    neighbour_query,
)

# A click command function: decorators that add options return it as they got it.
F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses nan, which compares as inside any range."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _at_most_ids(ctx: click.Context, param: click.Parameter, ids: tuple[int, ...]) -> Any:
    if len(ids) > MAX_IDS:
        raise click.BadParameter(f"at most {MAX_IDS} song ids", ctx=ctx, param=param)
    return ids


def _known_tags(ctx: click.Context, param: click.Parameter, names: tuple[str, ...]) -> Any:
    try:
        return normalize_tags(split_tags(names))
    except ParameterError as exc:
        raise click.BadParameter(
            f"{exc}; 'soundalike tags' lists the known tags", ctx=ctx, param=param
        ) from None


def click_option(parameter: Parameter) -> Callable[[F], F]:
    """The click option of one declared parameter, with its type, limits and default."""
    names = (parameter.option, parameter.key)
    if parameter.kind == "flag":
        return click.option(*names, is_flag=True, help=parameter.help)
    kinds: dict[str, dict[str, Any]] = {
        "int": {"type": click.IntRange(parameter.low, parameter.high)},
        "number": {"type": FiniteFloatRange(parameter.low, parameter.high)},
        "choice": {"type": click.Choice(parameter.choices)},
        "ids": {"type": click.IntRange(min=0), "multiple": True, "callback": _at_most_ids},
        "genre": {"type": str},
        "tags": {"type": str, "multiple": True, "callback": _known_tags},
    }
    return click.option(
        *names,
        default=parameter.default,
        show_default=parameter.default not in (None, ()),
        help=parameter.help,
        **kinds[parameter.kind],
    )


def with_neighbour_options(command: F) -> F:
    """Add the neighbour query's options, declared in `indexer.recommend.options`."""
    for parameter in reversed((K, SPACE, *SEEDS, *RERANK)):
        command = click_option(parameter)(command)
    return command


def similar_to_songs(
    library: Library, seeds: Sequence[Song], query: NeighbourQuery
) -> tuple[list[Song], Recommendation, str]:
    """The seed songs, their re-ranked neighbours and the space that answered (saved index)."""
    space = library.answering_space(query.space, seeds=[*(s.id for s in seeds), *query.negatives])
    index, manifest = library.load_index(space=space)
    ctx = Context(library, index, generation=manifest.generation, hubs=HubCache(), space=space)
    seed_songs, result = recommend_for_seeds(
        ctx,
        [s.id for s in seeds],
        negatives=query.negatives,
        k=query.k,
        options=query.options,
        mode=query.mode,
        negative_weight=query.negative_weight,
    )
    return seed_songs, result, space


@click.command("similar")
@click.argument("refs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_neighbour_options
@click.pass_context
def similar_cmd(ctx: click.Context, refs: tuple[str, ...], as_json: bool, **values: Any) -> None:
    """Songs that sound like REFS (ids or paths), with cosine score and genre.

    Several REFS search near all of them (--mode centroid) or give each an equal share
    (--mode union); --not steers away from songs. The other options re-rank the list.
    """
    library = library_of(ctx)
    query = neighbour_query(values)
    genre = query.options.genre
    if genre is not None and genre not in known_genres(library.genre_model.classes):
        raise click.BadParameter(f"unknown genre {genre!r}", param_hint="'--genre'")
    explain, explain_drops = query.explain, query.explain_drops
    try:
        seeds = [library.resolve_song(ref) for ref in refs]
        seeds, result, space = similar_to_songs(library, seeds, query)
        explained = explain_neighbours(library, seeds, result.neighbours) if explain else []
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    neighbours = result.neighbours
    if as_json:
        items = [{**_song_summary(n.song), "score": round(n.score, 6)} for n in neighbours]
        for item, (seed_id, why) in zip(items, explained, strict=False):
            item["explanation"] = {"seed": seed_id, "cosine": why.cosine, "parts": why.parts}
            item["explanation"]["summary"] = why.summary
            item["explanation"]["shared_tags"] = list(why.shared_tags)
        payload: dict[str, Any] = {
            "song": _song_summary(seeds[0]),
            "space": space,
            "neighbours": items,
        }
        if len(seeds) > 1:
            payload["seeds"] = [_song_summary(s) for s in seeds]
        if explain_drops:
            payload["dropped"] = [vars(d) for d in result.dropped]
        click.echo(json.dumps(payload, indent=2))
        return
    like = ", ".join(f"{s.id}: {display_song(s)} [{s.genre}]" for s in seeds)
    click.echo(f"Like {like} (space: {space})")
    click.echo(f"{'#':>3} {'id':>6} {'score':>6}  {'genre':<16} song")
    for rank, n in enumerate(neighbours, 1):
        genre = f"{n.song.genre} {n.song.genre_confidence or 0:.2f}"
        click.echo(f"{rank:>3} {n.song.id:>6} {n.score:6.3f}  {genre:<16} {display_song(n.song)}")
        tags = display_tags(n.song)
        if tags:
            click.echo(f"{'':>18}tags: {tags}")
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
        "tags": [{"tag": t.tag, "probability": t.probability} for t in top_tags(song.tag_vector)],
    }
