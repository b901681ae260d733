"""``soundalike similar``: neighbours of one or more songs, re-ranked as the options ask.

The command's options come from the declaration the HTTP query parameters come from
(`indexer.recommend.options`), so both take the same values within the same limits, and the
query goes through the same `indexer.recommend.candidates` functions as the service.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import click

from db.models import Song
from indexer.hubness import HubCache
from indexer.library import Library
from indexer.recommend.candidates import Context, Recommendation, recommend_for_seeds
from indexer.recommend.options import MAX_IDS, RERANK, SEEDS, K, NeighbourQuery, Parameter


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


def click_option(parameter: Parameter) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
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
    }
    return click.option(
        *names,
        default=parameter.default,
        show_default=parameter.default not in (None, ()),
        help=parameter.help,
        **kinds[parameter.kind],
    )


def with_neighbour_options(command):  # type: ignore[no-untyped-def]
    """Add the neighbour query's options, declared in `indexer.recommend.options`."""
    for parameter in reversed((K, *SEEDS, *RERANK)):
        command = click_option(parameter)(command)
    return command


def similar_to_songs(
    library: Library, seeds: Sequence[Song], query: NeighbourQuery
) -> tuple[list[Song], Recommendation]:
    """The seed songs and their re-ranked neighbours, on the saved index."""
    index, manifest = library.load_index()
    ctx = Context(library, index, generation=manifest.generation, hubs=HubCache())
    return recommend_for_seeds(
        ctx,
        [s.id for s in seeds],
        negatives=query.negatives,
        k=query.k,
        options=query.options,
        mode=query.mode,
        negative_weight=query.negative_weight,
    )
