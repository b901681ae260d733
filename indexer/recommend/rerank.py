"""Re-ranking at query time: filters, duplicates, per-artist and per-album caps, diversity.

The index answers "which vectors are nearest"; a useful list of recommendations also avoids the
same song twice, five songs by one artist, and songs the listener ruled out. All of that is
decided here, on candidates fetched deeper than ``k`` from the index, so nothing is re-indexed
and the stored vectors stay the plain metric.

Order of decisions: the filters (excluded ids, predicted genre, tempo and duration ranges, tags
the network must hear) drop candidates first. The rest are taken greedily, best first: by
cosine, or by CSLS when hubness correction is on, or by maximal marginal relevance when
``mmr_lambda < 1``. A candidate that is a near-duplicate of the query or of a song already
taken, or whose artist or album has reached its cap, is dropped and the next one is tried,
until ``k`` songs are taken.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from indexer.recommend.duplicates import DUPLICATE_COSINE, SongTraits, is_near_duplicate


@dataclass(frozen=True, eq=False)
class Candidate:
    """A song fetched from the index for one query."""

    id: int
    score: float
    vector: np.ndarray
    traits: SongTraits
    album: str | None
    genre: str | None
    tempo_bpm: float
    tags: frozenset[str] = frozenset()
    """The tags the song carries (`indexer.model.tags.carried_tags`)."""


@dataclass(frozen=True)
class Anchor:
    """A song the list is built around (the query or a seed): its duplicates are dropped too."""

    id: int | None
    vector: np.ndarray
    traits: SongTraits


@dataclass(frozen=True)
class RerankOptions:
    """What a query asks of its neighbours besides nearness; the defaults change nothing."""

    genre: str | None = None
    tempo_min_bpm: float | None = None
    tempo_max_bpm: float | None = None
    duration_min_s: float | None = None
    duration_max_s: float | None = None
    exclude: frozenset[int] = field(default_factory=frozenset)
    max_per_artist: int | None = None
    max_per_album: int | None = None
    dedupe: bool = False
    duplicate_cosine: float = DUPLICATE_COSINE
    mmr_lambda: float = 1.0
    hubness: bool = False
    tags: frozenset[str] = field(default_factory=frozenset)
    """Tags every neighbour must carry (names from `indexer.model.tags.TAG_VOCABULARY`)."""

    @property
    def filters(self) -> bool:
        """Whether any filter may drop candidates (then the index is searched deeper)."""
        return (
            self.genre is not None
            or bool(self.exclude)
            or bool(self.tags)
            or any(
                v is not None
                for v in (
                    self.tempo_min_bpm,
                    self.tempo_max_bpm,
                    self.duration_min_s,
                    self.duration_max_s,
                )
            )
        )

    @property
    def active(self) -> bool:
        """Whether anything differs from plain nearest-neighbour order."""
        return (
            self.filters
            or self.dedupe
            or self.hubness
            or self.mmr_lambda < 1.0
            or self.max_per_artist is not None
            or self.max_per_album is not None
        )


@dataclass(frozen=True)
class Dropped:
    """A candidate left out, with a stable reason code and a readable detail."""

    id: int
    reason: str
    detail: str


def fetch_depth(k: int, options: RerankOptions, *, available: int) -> int:
    """How many candidates to fetch from the index for ``k`` answers.

    Filters can reject most of the library (one genre of ten), so they search deepest; caps,
    duplicates and diversity reorder near the top and need a few times ``k`` (on GTZAN, 50 and
    100 candidates give the same top 10 to the third decimal of every score in
    `indexer.evaluation.rerank`, and half the depth is half the rows to read).
    """
    if not options.active:
        want = k
    elif options.filters:
        want = max(20 * k, 200)
    else:
        want = max(5 * k, 50)
    return max(1, min(available, want))


def _filter_reason(c: Candidate, o: RerankOptions) -> tuple[str, str] | None:
    if c.id in o.exclude:
        return "excluded", "excluded by the query"
    if o.genre is not None and c.genre != o.genre:
        return "genre", f"predicted genre {c.genre}, not {o.genre}"
    if (o.tempo_min_bpm is not None and c.tempo_bpm < o.tempo_min_bpm) or (
        o.tempo_max_bpm is not None and c.tempo_bpm > o.tempo_max_bpm
    ):
        return "tempo", f"tempo {c.tempo_bpm:.1f} BPM outside the range"
    duration = c.traits.duration_s
    if (o.duration_min_s is not None and duration < o.duration_min_s) or (
        o.duration_max_s is not None and duration > o.duration_max_s
    ):
        return "duration", f"duration {duration:.1f} s outside the range"
    if o.tags and not o.tags <= c.tags:
        missing = ", ".join(sorted(o.tags - c.tags))
        return "tag", f"not tagged {missing}"
    return None


def _key(value: str | None) -> str | None:
    return value.strip().casefold() if value and value.strip() else None


def rerank(
    candidates: Sequence[Candidate],
    *,
    k: int,
    options: RerankOptions,
    anchors: Sequence[Anchor] = (),
    hub: Mapping[int, float] | None = None,
    chosen: Sequence[Candidate] = (),
) -> tuple[list[Candidate], list[Dropped]]:
    """Up to ``k`` candidates in their new order, and the ones dropped on the way.

    Parameters
    ----------
    candidates
        Songs fetched from the index, any order; ``score`` is the cosine to the query.
    anchors
        The query song(s): their near-duplicates are dropped when ``options.dedupe``.
    hub
        Per candidate id, its mean cosine to its own nearest songs
        (`indexer.recommend.hub_scores`); with ``options.hubness`` candidates are ranked by CSLS,
        ``2 * score - hub[id]`` (the query's own term is the same for every candidate and cannot
        change the order).
    chosen
        Songs already taken by an earlier pass (another seed's quota): they count towards
        caps, duplicates and diversity but are not returned again.
    """
    dropped: list[Dropped] = []
    pool: list[Candidate] = []
    taken_ids = {c.id for c in chosen}
    for c in candidates:
        if c.id in taken_ids:
            continue
        reason = _filter_reason(c, options)
        if reason is not None:
            dropped.append(Dropped(c.id, *reason))
        else:
            pool.append(c)
    if not pool:
        return [], dropped
    relevance = np.array([c.score for c in pool], dtype=np.float64)
    if options.hubness and hub is not None:
        relevance = 2.0 * relevance - np.array([hub.get(c.id, 0.0) for c in pool])
    vectors = np.vstack([c.vector for c in pool]).astype(np.float64)
    # Most similar already-taken song per candidate, for maximal marginal relevance.
    redundancy = np.full(len(pool), -np.inf)
    for c in chosen:
        redundancy = np.maximum(redundancy, vectors @ np.asarray(c.vector, dtype=np.float64))
    artists = Counter(_key(c.traits.artist) for c in chosen)
    albums = Counter((_key(c.traits.artist), _key(c.album)) for c in chosen)
    kept: list[Candidate] = []
    others = _Others(anchors, chosen, vectors.shape[1])
    open_ = np.ones(len(pool), dtype=bool)
    lam = options.mmr_lambda
    while len(kept) < k and open_.any():
        if lam >= 1.0:
            gain = relevance
        else:
            gain = lam * relevance - (1.0 - lam) * np.where(
                np.isfinite(redundancy), redundancy, 0.0
            )
        i = int(np.argmax(np.where(open_, gain, -np.inf)))
        open_[i] = False
        c = pool[i]
        reason = _rejection(c, options, others, artists, albums)
        if reason is not None:
            dropped.append(Dropped(c.id, *reason))
            continue
        kept.append(c)
        others.add(c)
        artists[_key(c.traits.artist)] += 1
        albums[(_key(c.traits.artist), _key(c.album))] += 1
        redundancy = np.maximum(redundancy, vectors @ vectors[i])
    return kept, dropped


def _rejection(
    c: Candidate,
    o: RerankOptions,
    others: _Others,
    artists: Counter[str | None],
    albums: Counter[tuple[str | None, str | None]],
) -> tuple[str, str] | None:
    if o.dedupe:
        cosines = others.vectors @ np.asarray(c.vector, dtype=np.float64)
        for j in np.argsort(-cosines):
            cosine = float(cosines[j])
            why = is_near_duplicate(
                c.traits, others.traits[j], cosine=cosine, threshold=o.duplicate_cosine
            )
            if why is not None:
                other_id = others.ids[j]
                what = "the query" if other_id is None else f"song {other_id}"
                return "duplicate", f"near-duplicate of {what} ({why}, cosine {cosine:.6f})"
    artist = _key(c.traits.artist)
    # Unknown artists and albums are not one artist or album: they are never capped together.
    if o.max_per_artist is not None and artist is not None and artists[artist] >= o.max_per_artist:
        return "artist_cap", f"already {artists[artist]} song(s) by {c.traits.artist}"
    album = (artist, _key(c.album))
    if o.max_per_album is not None and album[1] is not None and albums[album] >= o.max_per_album:
        return "album_cap", f"already {albums[album]} song(s) from {c.album}"
    return None


class _Others:
    """The anchors and the songs taken so far, with their vectors stacked for one product."""

    def __init__(self, anchors: Sequence[Anchor], taken: Sequence[Candidate], dim: int) -> None:
        self.ids: list[int | None] = [a.id for a in anchors] + [t.id for t in taken]
        self.traits: list[SongTraits] = [a.traits for a in anchors] + [t.traits for t in taken]
        rows = [a.vector for a in anchors] + [t.vector for t in taken]
        self.vectors = (
            np.vstack(rows).astype(np.float64) if rows else np.zeros((0, dim), dtype=np.float64)
        )

    def add(self, c: Candidate) -> None:
        self.ids.append(c.id)
        self.traits.append(c.traits)
        self.vectors = np.vstack([self.vectors, np.asarray(c.vector, dtype=np.float64)])
