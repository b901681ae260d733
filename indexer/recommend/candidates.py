"""Recommendations: index candidates, re-ranked, for one vector or a set of seed songs.

`indexer.recommend.rerank` decides on plain candidates; this module fetches them from the index
and the database, and builds the query of several seeds: their centroid steered away from
negative seeds (Rocchio's rule), or each seed on its own with a share of the list.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from db.models import Song
from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.library import Library, Neighbour
from indexer.model.spaces import DEFAULT_SPACE
from indexer.model.tags import PROFILE_SEEDS, carried_tags
from indexer.recommend.duplicates import SongTraits
from indexer.recommend.explain import Explanation, explain
from indexer.recommend.hub_scores import HubCache
from indexer.recommend.rerank import Anchor, Candidate, Dropped, RerankOptions, fetch_depth, rerank
from indexer.vectors.index import VectorIndex

_TEMPO = FEATURE_NAMES.index("tempo")
SEED_MODES = ("centroid", "union")
# How far negative seeds push the query: q = unit(unit(mean seed) - w * unit(mean negative)).
NEGATIVE_WEIGHT = 0.5


@dataclass(frozen=True)
class Recommendation:
    """Neighbours best first, and what re-ranking dropped on the way."""

    neighbours: list[Neighbour]
    dropped: list[Dropped]


@dataclass(frozen=True)
class Context:
    """What every query needs besides its vector: the library, one space's index and its hubs.

    ``space`` is the space ``index`` holds; every vector of the query lives in it.
    """

    library: Library
    index: VectorIndex
    generation: int = 0
    hubs: HubCache | None = None
    space: str = DEFAULT_SPACE


def traits(song: Song) -> SongTraits:
    """The fields duplicate detection compares."""
    return SongTraits(title=song.title, artist=song.artist, duration_s=song.duration_s)


def song_vector(ctx: Context, song: Song) -> np.ndarray:
    """The song's indexed vector, or the one the next sync will store when the index does not
    hold it yet (`MissingVectorError` when the song has no vector in the space)."""
    return ctx.library.song_vectors([song], ctx.index, space=ctx.space)[0]


def _fetch(ctx: Context, vector: np.ndarray, *, depth: int, skip: set[int]) -> list[Candidate]:
    scores, ids = ctx.index.search(vector[None, :], k=depth + len(skip))
    hits = [
        (int(i), float(s))
        for i, s in zip(ids[0], scores[0], strict=True)
        if i >= 0 and int(i) not in skip
    ]
    rows = ctx.library.candidate_rows([i for i, _ in hits])
    candidates = []
    for song_id, score in hits:
        row = rows.get(song_id)
        if row is None:  # removed since the index was saved
            continue
        stored = ctx.index.reconstruct(song_id)
        candidates.append(
            Candidate(
                id=song_id,
                score=min(1.0, score),
                vector=stored if stored is not None else np.zeros_like(vector),
                traits=SongTraits(title=row.title, artist=row.artist, duration_s=row.duration_s),
                album=row.album,
                genre=row.genre,
                tempo_bpm=float(row.features[_TEMPO]),
                tags=carried_tags(row.tags),
            )
        )
    return candidates


def _neighbours(ctx: Context, kept: Sequence[Candidate]) -> list[Neighbour]:
    """Full songs for the candidates kept, in their order (a song removed meanwhile is left out)."""
    songs = ctx.library.get_songs([c.id for c in kept])
    return [Neighbour(songs[c.id], c.score) for c in kept if c.id in songs]


def _hub(ctx: Context, options: RerankOptions, pool: Sequence[Candidate]) -> dict[int, float]:
    if not options.hubness or ctx.hubs is None:
        return {}
    return ctx.hubs.mean_similarity(ctx.index, [c.id for c in pool], generation=ctx.generation)


def recommend(
    ctx: Context,
    vector: np.ndarray,
    *,
    k: int,
    options: RerankOptions,
    anchors: Sequence[Anchor] = (),
    skip: frozenset[int] = frozenset(),
) -> Recommendation:
    """The ``k`` songs nearest to a unit ``vector`` after re-ranking; ``skip`` never shows.

    Without any option set this is the plain nearest-neighbour query, fetched ``k`` deep.
    """
    if not options.active:
        neighbours = ctx.library.similar_to_vector(
            vector, k=k, exclude=set(skip), index=ctx.index, space=ctx.space
        )
        return Recommendation(neighbours, [])
    depth = fetch_depth(k, options, available=len(ctx.index))
    pool = _fetch(ctx, vector, depth=depth, skip=set(skip))
    kept, dropped = rerank(
        pool, k=k, options=options, anchors=anchors, hub=_hub(ctx, options, pool)
    )
    return Recommendation(_neighbours(ctx, kept), dropped)


def steer(positive: np.ndarray, negative: np.ndarray | None, *, weight: float) -> np.ndarray | None:
    """Rocchio's query: the unit mean of the seeds minus ``weight`` times that of the negatives.

    None when the negatives cancel the seeds out (the same songs on both sides at weight 1):
    there is nothing left to search for.
    """
    query = _unit(positive.mean(axis=0))
    if negative is not None and len(negative) and weight > 0:
        query = query - weight * _unit(negative.mean(axis=0))
    norm = float(np.linalg.norm(query))
    if norm < 1e-6:
        return None
    return (query / norm).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def recommend_for_seeds(
    ctx: Context,
    seeds: Sequence[int],
    *,
    negatives: Sequence[int] = (),
    k: int,
    options: RerankOptions,
    mode: str = "centroid",
    negative_weight: float = NEGATIVE_WEIGHT,
) -> tuple[list[Song], Recommendation]:
    """Songs like a set of ``seeds`` and unlike ``negatives``; the seed songs and the result.

    ``centroid`` searches once, from the seeds' steered mean: songs between the seeds. ``union``
    searches from each seed (each steered away from the negatives) and gives each seed
    ``ceil(k / seeds)`` places, interleaved seed by seed: each seed stays represented even when
    the seeds are far apart. Seeds and negatives never appear in the result; with ``dedupe``,
    neither do their near-duplicates. `NotFoundError` names an unknown id.
    """
    wanted = list(dict.fromkeys([*seeds, *negatives]))
    songs = ctx.library.require_songs(wanted)
    seed_songs = [songs[i] for i in dict.fromkeys(seeds)]
    positive = np.vstack([song_vector(ctx, s) for s in seed_songs])
    negative = (
        np.vstack([song_vector(ctx, songs[i]) for i in negatives]) if len(negatives) else None
    )
    anchors = [Anchor(s.id, v, traits(s)) for s, v in zip(seed_songs, positive, strict=True)]
    skip = frozenset(wanted)
    if mode == "centroid" or len(seed_songs) == 1:
        query = steer(positive, negative, weight=negative_weight)
        if query is None:
            return seed_songs, Recommendation([], [])
        return seed_songs, recommend(ctx, query, k=k, options=options, anchors=anchors, skip=skip)
    quota = math.ceil(k / len(seed_songs))
    chosen: list[Candidate] = []
    per_seed: list[list[Candidate]] = []
    dropped: list[Dropped] = []
    depth = fetch_depth(quota, options, available=len(ctx.index)) + k
    for vector in positive:
        query = steer(vector[None, :], negative, weight=negative_weight)
        if query is None:
            per_seed.append([])
            continue
        pool = _fetch(ctx, query, depth=depth, skip=set(skip))
        kept, lost = rerank(
            pool,
            k=quota,
            options=options,
            anchors=anchors,
            hub=_hub(ctx, options, pool),
            chosen=chosen,
        )
        chosen.extend(kept)
        per_seed.append(kept)
        dropped.extend(lost)
    order = [
        c for rank in range(quota) for kept in per_seed if rank < len(kept) for c in [kept[rank]]
    ][:k]
    # A song one seed dropped may be another seed's pick; report each song's first drop once.
    listed = {c.id for c in order}
    first_drops = {d.id: d for d in reversed(dropped) if d.id not in listed}
    dropped = [d for d in dropped if first_drops.get(d.id) is d]
    return seed_songs, Recommendation(_neighbours(ctx, order), dropped)


def profile_seeds(
    library: Library, profile: Sequence[str], *, skip: Iterable[int] = ()
) -> list[int]:
    """The seeds a tag profile starts from: up to `PROFILE_SEEDS` songs that carry every tag,
    best match first; when no song carries them all, the one song that matches best (none when
    no song has tags). Songs in ``skip`` are never picked."""
    skip = set(skip)
    limit = PROFILE_SEEDS + len(skip)
    matched = library.songs_matching_tags(profile, limit=limit, carrying_all=True)
    picked = [i for i, _ in matched if i not in skip][:PROFILE_SEEDS]
    if not picked:
        nearest = library.songs_matching_tags(profile, limit=1 + len(skip))
        picked = [i for i, _ in nearest if i not in skip][:1]
    return picked


def explain_neighbours(
    library: Library, seeds: Sequence[Song], neighbours: Sequence[Neighbour]
) -> list[tuple[int, Explanation]]:
    """Each neighbour's explanation against the seed nearest to it, with that seed's id.

    A centroid is no song, so it cannot be explained; the nearest seed is what the listener
    will compare the neighbour with.
    """
    if not neighbours:
        return []
    seed_vectors = library.vectors(np.vstack([s.feature_vector for s in seeds]))
    raw = np.vstack([n.song.feature_vector for n in neighbours])
    nearest = (library.vectors(raw) @ seed_vectors.T).argmax(axis=1)
    result: list[tuple[int, Explanation]] = []
    for row, seed_row in enumerate(nearest):
        seed = seeds[int(seed_row)]
        why = explain(
            library.scaler,
            seed.feature_vector,
            raw[row],
            query_tags=seed.tag_vector,
            tags=[neighbours[row].song.tag_vector],
        )[0]
        result.append((seed.id, why))
    return result
