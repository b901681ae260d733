"""What playlists and paths share: songs with their unit vectors, gathered from the index.

A walk compares each candidate with several anchors (the previous song, the seeds, a waypoint,
the goal), so candidates carry their vector; the index's stored vector is used when it can be
read back, because it is exactly what the neighbour search compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from db.models import Song
from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.library import Library
from indexer.model.spaces import DEFAULT_SPACE
from indexer.vectors.index import VectorIndex

TEMPO = FEATURE_NAMES.index("tempo")


@dataclass(frozen=True)
class Track:
    """A library song with its unit vector [shape=(d,)] in the index's metric."""

    song: Song
    vector: np.ndarray

    @property
    def tempo_bpm(self) -> float:
        """The raw ``tempo`` feature (beats per minute, as the beat tracker estimated it)."""
        return float(self.song.feature_vector[TEMPO])

    def similarity(self, other: np.ndarray) -> float:
        """Cosine with a unit vector, clipped to [-1, 1] against float32 rounding."""
        return float(np.clip(np.dot(self.vector, other), -1.0, 1.0))


def tracks(
    library: Library,
    index: VectorIndex,
    ids: Sequence[int],
    *,
    space: str = DEFAULT_SPACE,
    skip_missing: bool = False,
) -> list[Track]:
    """The songs of ``ids`` that still exist, in the order given, with their vectors in ``space``
    (the space ``index`` holds).

    A song without a vector in the space raises `MissingVectorError`, or with ``skip_missing``
    is left out (a candidate whose embedding went away since the index was saved).
    """
    songs = library.get_songs(ids)
    found = [songs[i] for i in ids if i in songs]
    if skip_missing:
        found = [song for song in found if library.has_vector(song, space)]
    vectors = library.song_vectors(found, index, space=space)
    return [
        Track(song, _unit(np.asarray(vector, dtype=np.float64)))
        for song, vector in zip(found, vectors, strict=True)
    ]


def neighbours(
    library: Library,
    index: VectorIndex,
    queries: Iterable[np.ndarray],
    *,
    k: int,
    exclude: set[int],
    space: str = DEFAULT_SPACE,
) -> list[Track]:
    """Songs among the ``k`` nearest of any query vector in ``space``, excluded ids left out."""
    wanted = k + len(exclude)
    ids: list[int] = []
    for query in queries:
        _, found = index.search(np.asarray(query, dtype=np.float32), k=wanted)
        ids.extend(int(i) for i in found[0] if i >= 0 and int(i) not in exclude)
    return tracks(library, index, list(dict.fromkeys(ids)), space=space, skip_missing=True)


def smoothness(vectors: Sequence[np.ndarray]) -> float | None:
    """Mean cosine between consecutive songs; None for fewer than two songs."""
    if len(vectors) < 2:
        return None
    pairs = [
        float(np.clip(np.dot(a, b), -1.0, 1.0)) for a, b in zip(vectors, vectors[1:], strict=False)
    ]
    return float(np.mean(pairs))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
