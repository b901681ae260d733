"""``soundalike similar``: neighbours of one or more songs, re-ranked as the options ask.

The command's options map one to one onto the HTTP query parameters (see the README), and the
query goes through the same `indexer.recommend.candidates` functions as the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from db.models import Song
from indexer.library import Library
from indexer.recommend.candidates import Context, Recommendation, recommend_for_seeds
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
