"""A playlist grown from seed songs: no repeats, an optional per-artist cap, smooth transitions.

The algorithm (``build_playlist``): the seeds open the playlist in the order given. Each next
song is drawn from the nearest songs of the previous song and of the seeds' mean direction, and
is the one with the highest

    weight_previous * cos(song, previous) + (1 - weight_previous) * mean cos(song, seed)

among songs not yet played whose artist is under the cap. The first term keeps each transition
short; the second keeps the whole playlist near what was asked for, so it does not drift away
one small step at a time. Songs to avoid (``negatives``) steer the second term as Rocchio's rule
steers a neighbour query: it becomes ``mean cos(song, seed) - negative_weight * mean
cos(song, negative)``, candidates are searched from the seeds' mean pushed away from the
negatives' mean, and a negative never joins the playlist. When the candidates run out
(everything near is used or capped) the search widens; when the library runs out the playlist
is shorter than asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from db.models import Song
from indexer.errors import NotFoundError, ParameterError
from indexer.library import Library
from indexer.model.spaces import DEFAULT_SPACE
from indexer.vectors.index import VectorIndex
from indexer.walks.gather import Track, neighbours, smoothness, tracks

# Candidates per query before widening: a few times what one choice needs.
CANDIDATES = 64


@dataclass(frozen=True)
class PlaylistEntry:
    """One song of a playlist, with its cosine to the previous song and to the seeds (mean)."""

    song: Song
    similarity_to_previous: float | None
    similarity_to_seeds: float
    seed: bool


@dataclass(frozen=True)
class Playlist:
    """Songs in play order; smoothness is the mean cosine of consecutive songs."""

    entries: list[PlaylistEntry]
    smoothness: float | None


class ArtistCap:
    """Counts songs per artist and refuses one more past ``limit`` (None: no cap).

    Artists compare case-insensitively; songs without an artist tag are never capped, since
    nothing says two of them share an artist.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._counts: Counter[str] = Counter()

    @staticmethod
    def _key(song: Song) -> str | None:
        artist = (song.artist or "").strip().casefold()
        return artist or None

    def allows(self, song: Song) -> bool:
        """Whether one more song by this song's artist stays within the cap."""
        key = self._key(song)
        return self.limit is None or key is None or self._counts[key] < self.limit

    def add(self, song: Song) -> None:
        """Count a song that joined the playlist."""
        key = self._key(song)
        if key is not None:
            self._counts[key] += 1


def build_playlist(
    library: Library,
    seed_ids: Sequence[int],
    *,
    length: int,
    max_per_artist: int | None = None,
    weight_previous: float = 0.5,
    negatives: Sequence[int] = (),
    negative_weight: float = 0.5,
    index: VectorIndex | None = None,
    space: str = DEFAULT_SPACE,
) -> Playlist:
    """Up to ``length`` songs: the seeds, then the best next song each time (see the module doc).

    Seeds count towards ``length`` and towards the artist cap; a repeated seed is used once.
    ``negatives`` (song ids) push the playlist away from them, ``negative_weight`` hard.
    """
    if length < 1:
        raise ParameterError("length must be at least 1")
    if not 0.0 <= weight_previous <= 1.0:
        raise ParameterError("weight_previous must lie in [0, 1]")
    if not 0.0 <= negative_weight <= 1.0:
        raise ParameterError("negative_weight must lie in [0, 1]")
    if index is None:
        index, _ = library.load_index(space=space)
    seed_ids = list(dict.fromkeys(seed_ids))
    negative_ids = [i for i in dict.fromkeys(negatives) if i not in seed_ids]
    seeds = tracks(library, index, seed_ids, space=space)
    avoided = tracks(library, index, negative_ids, space=space)
    missing = set(seed_ids + negative_ids) - {t.song.id for t in [*seeds, *avoided]}
    if missing:
        raise NotFoundError(f"no song with id {min(missing)}")
    seed_matrix = np.vstack([t.vector for t in seeds])
    centre = seed_matrix.mean(axis=0)
    weight = negative_weight if avoided else 0.0
    negative_matrix = (
        np.vstack([t.vector for t in avoided]) if avoided else np.zeros((0, centre.size))
    )
    if avoided:
        centre = _unit(centre) - weight * _unit(negative_matrix.mean(axis=0))

    def to_seeds(track: Track) -> float:
        return float(np.mean(np.clip(seed_matrix @ track.vector, -1.0, 1.0)))

    def steered(track: Track) -> float:
        if not avoided:
            return to_seeds(track)
        away = float(np.mean(np.clip(negative_matrix @ track.vector, -1.0, 1.0)))
        return to_seeds(track) - weight * away

    cap = ArtistCap(max_per_artist)
    walk: list[Track] = []
    entries: list[PlaylistEntry] = []
    for seed in seeds[:length]:
        previous = walk[-1].similarity(seed.vector) if walk else None
        entries.append(PlaylistEntry(seed.song, previous, to_seeds(seed), True))
        walk.append(seed)
        cap.add(seed.song)

    used = {t.song.id for t in walk} | set(negative_ids)
    k = CANDIDATES
    while len(walk) < length:
        previous = walk[-1]
        candidates = [
            c
            for c in neighbours(
                library, index, [previous.vector, centre], k=k, exclude=used, space=space
            )
            if cap.allows(c.song)
        ]
        if not candidates:
            if k + len(used) >= len(index):
                break  # every song was looked at: the library (or the cap) is exhausted
            k *= 4
            continue
        best = max(
            candidates,
            key=lambda c: (
                weight_previous * c.similarity(previous.vector) + (1 - weight_previous) * steered(c)
            ),
        )
        entries.append(
            PlaylistEntry(best.song, best.similarity(previous.vector), to_seeds(best), False)
        )
        walk.append(best)
        used.add(best.song.id)
        cap.add(best.song)
    return Playlist(entries, smoothness([t.vector for t in walk]))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
