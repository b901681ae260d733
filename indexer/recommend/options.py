"""The parameters of a neighbour query, declared once for the HTTP API and the command line.

Each `Parameter` is a query parameter of the neighbour routes (``max_per_artist=2``) and an
option of ``soundalike similar`` (``--max-per-artist 2``), with its type, limits, default and
help. The service turns the declaration into its request schemas, which validate requests and
write the OpenAPI document; the command line turns it into click options. So both accept the
same values, and `neighbour_query` turns the parsed values into what `recommend` takes.

The limits come from `indexer.limits`, which the other routes and commands share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from indexer.limits import MAX_DURATION_S, MAX_K, MAX_TEMPO_BPM
from indexer.model.genre_labels import UNCERTAIN
from indexer.model.spaces import DEFAULT_SPACE, FEATURES, SOUND, SPACES
from indexer.model.tags import normalize_tags, split_tags
from indexer.recommend.candidates import NEGATIVE_WEIGHT, SEED_MODES
from indexer.recommend.rerank import RerankOptions

# What a parameter holds: "int" and "number" (finite, within [low, high]), "flag" (true or
# false), "ids" (song ids, repeated), "choice" (one of ``choices``), "genre" (one of the genre
# model's labels, known only once a library is open: see `known_genres`), "tags" (names from
# `indexer.model.tags.TAG_VOCABULARY`, repeated or comma-separated).
Kind = Literal["int", "number", "flag", "ids", "choice", "genre", "tags"]


@dataclass(frozen=True)
class Parameter:
    """One parameter: its HTTP name, its command-line option, type, limits, default and help."""

    name: str
    kind: Kind
    help: str
    low: float | None = None
    high: float | None = None
    default: Any = None
    choices: tuple[str, ...] = ()
    # The command-line option when it is not ``--`` and the name with dashes.
    flag: str | None = None
    # The Python name of the value when the HTTP name is a keyword (``not``).
    dest: str | None = None

    @property
    def key(self) -> str:
        """The name the parsed value goes by in Python."""
        return self.dest or self.name

    @property
    def option(self) -> str:
        """The command-line option."""
        return self.flag or "--" + self.name.replace("_", "-")


K = Parameter("k", "int", "how many neighbours", low=1, high=MAX_K, default=10, flag="-k")

# Which vector space to search (indexer.model.spaces). Absent is not the same as the default:
# a query that does not ask answers from ``features`` while some songs lack a sound embedding
# (`Library.answering_space`), one that asks for ``sound`` gets it.
SPACE = Parameter(
    "space",
    "choice",
    f"the vector space to search: {SOUND} (a network's hearing of the audio) or {FEATURES} "
    f"(the 57 GTZAN features); default {DEFAULT_SPACE}, or {FEATURES} while some songs lack a "
    f"{SOUND} embedding",
    choices=SPACES,
)

# Filters, caps, diversity and explanations: every neighbour route takes these (indexer.rerank).
RERANK: tuple[Parameter, ...] = (
    Parameter("genre", "genre", "keep only neighbours predicted as this genre"),
    Parameter(
        "tag",
        "tags",
        "keep only neighbours that carry this tag (repeat for several: all must be carried; "
        "GET /api/tags or 'soundalike tags' lists them)",
        default=(),
    ),
    Parameter(
        "tempo_min_bpm",
        "number",
        "keep neighbours at least this fast (BPM)",
        low=0.0,
        high=MAX_TEMPO_BPM,
        flag="--tempo-min",
    ),
    Parameter(
        "tempo_max_bpm",
        "number",
        "keep neighbours at most this fast (BPM)",
        low=0.0,
        high=MAX_TEMPO_BPM,
        flag="--tempo-max",
    ),
    Parameter(
        "duration_min_s",
        "number",
        "keep neighbours at least this long (seconds)",
        low=0.0,
        high=MAX_DURATION_S,
        flag="--duration-min",
    ),
    Parameter(
        "duration_max_s",
        "number",
        "keep neighbours at most this long (seconds)",
        low=0.0,
        high=MAX_DURATION_S,
        flag="--duration-max",
    ),
    Parameter("exclude", "ids", "song ids never to return", default=()),
    Parameter(
        "max_per_artist", "int", "at most this many neighbours by one artist", low=1, high=MAX_K
    ),
    Parameter(
        "max_per_album", "int", "at most this many neighbours from one album", low=1, high=MAX_K
    ),
    Parameter("dedupe", "flag", "drop near-duplicates of the query and of each other"),
    Parameter(
        "mmr_lambda",
        "number",
        "maximal marginal relevance: 1 ranks by similarity alone, lower values diversify",
        low=0.0,
        high=1.0,
        default=1.0,
    ),
    Parameter("hubness", "flag", "rank by CSLS, which demotes songs that are near everything"),
    Parameter("explain", "flag", "split each neighbour's cosine over five feature groups"),
    Parameter("explain_drops", "flag", "list the candidates re-ranking dropped and why"),
)

# How several seed songs make one query (indexer.recommend.candidates.recommend_for_seeds).
SEEDS: tuple[Parameter, ...] = (
    Parameter("not", "ids", "songs to steer away from", default=(), dest="negatives"),
    Parameter(
        "mode",
        "choice",
        "centroid: near the seeds' mean; union: an equal share of places per seed",
        choices=SEED_MODES,
        default="centroid",
    ),
    Parameter(
        "not_weight",
        "number",
        "how hard the 'not' songs push the query away (0: not at all)",
        low=0.0,
        high=1.0,
        default=NEGATIVE_WEIGHT,
    ),
)


@dataclass(frozen=True)
class NeighbourQuery:
    """A parsed neighbour query: how many, re-ranked how, explained how, seeds steered how."""

    k: int
    options: RerankOptions
    explain: bool
    explain_drops: bool
    negatives: tuple[int, ...]
    mode: str
    negative_weight: float
    space: str | None = None
    """The space asked for; None when the query did not ask (see `SPACE`)."""


def neighbour_query(values: Mapping[str, Any]) -> NeighbourQuery:
    """The query from values already checked against the declaration, keyed by `Parameter.key`.

    A parameter that is absent (or None, or an empty list) takes its default.
    """

    def value(parameter: Parameter) -> Any:
        given = values.get(parameter.key)
        if given is None or (parameter.kind in ("ids", "tags") and not given):
            return parameter.default
        return given

    by_key = {p.key: value(p) for p in (K, SPACE, *RERANK, *SEEDS)}
    return NeighbourQuery(
        k=by_key["k"],
        options=RerankOptions(
            genre=by_key["genre"],
            tempo_min_bpm=by_key["tempo_min_bpm"],
            tempo_max_bpm=by_key["tempo_max_bpm"],
            duration_min_s=by_key["duration_min_s"],
            duration_max_s=by_key["duration_max_s"],
            exclude=frozenset(by_key["exclude"]),
            max_per_artist=by_key["max_per_artist"],
            max_per_album=by_key["max_per_album"],
            dedupe=bool(by_key["dedupe"]),
            mmr_lambda=by_key["mmr_lambda"],
            hubness=bool(by_key["hubness"]),
            tags=frozenset(normalize_tags(split_tags(by_key["tag"]))),
        ),
        explain=bool(by_key["explain"]),
        explain_drops=bool(by_key["explain_drops"]),
        negatives=tuple(by_key["negatives"]),
        mode=by_key["mode"],
        negative_weight=by_key["not_weight"],
        space=by_key["space"],
    )


def known_genres(classes: Sequence[str]) -> list[str]:
    """The values ``genre`` accepts: the genre model's classes, then ``uncertain``."""
    return [*classes, UNCERTAIN]
