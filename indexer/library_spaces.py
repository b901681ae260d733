"""The vector spaces part of `indexer.library.Library`: what a song's vector is in each space.

A song has a vector in ``features`` (its 57 features, standardized by the scaler) and, once the
network has described it, in ``sound`` (`indexer.model.spaces`). These methods make those
vectors and choose the space a query answers from; `indexer.library_indexes` keeps one index
per space. Callers never import this module, they call these methods on a `Library`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from db import repo
from db.models import Song
from db.repo import SongRow
from indexer.audio.embedding import EMBEDDING_VERSION, STORED_DIM
from indexer.audio.feature_columns import N_FEATURES
from indexer.errors import MissingVectorError, ParameterError
from indexer.library_reads import LibraryReads
from indexer.model.spaces import (
    DEFAULT_SPACE,
    FEATURES,
    SOUND,
    SOUND_DIM,
    SPACES,
    row_vectors,
    sound_vectors,
)
from indexer.vectors.index import VectorIndex

if TYPE_CHECKING:
    from indexer.model.scaler import Scaler


class LibrarySpaces(LibraryReads):
    """Songs' vectors in each space, and which space answers; `Library` inherits these."""

    scaler: Scaler

    def vectors(self, raw: np.ndarray) -> np.ndarray:
        """Raw features [shape=(n, 57)] to unit vectors of the ``features`` space."""
        return row_vectors(FEATURES, raw, scaler=self.scaler)

    def space_dim(self, space: str) -> int:
        """The dimension of a space's vectors."""
        return SOUND_DIM if checked_space(space) == SOUND else self.scaler.dim

    def space_version(self, space: str) -> str:
        """What the vectors of a space are made by; a change rebuilds that space's index."""
        if checked_space(space) == SOUND:
            return f"{sound_space_version()}-{self.scaler.version}"
        return self.scaler.version

    def song_vectors(
        self,
        songs: Sequence[Song | SongRow],
        index: VectorIndex,
        *,
        space: str = DEFAULT_SPACE,
    ) -> np.ndarray:
        """The songs' unit vectors in ``space`` [shape=(n, d)]: from ``index``, else computed.

        The indexed vector is what neighbours were compared with, so it is preferred; a song not
        yet in this index (or an index kind that cannot give vectors back) gets the vector the
        next sync will store. A song with no vector in the space (in ``sound``: no current
        embedding) raises `MissingVectorError`; `has_vector` tells beforehand.
        """
        found = [index.reconstruct(song.id) for song in songs]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            fresh = self._fresh_vectors([songs[i] for i in missing], space)
            for i, vector in zip(missing, fresh, strict=True):
                found[i] = vector
        if not found:
            return np.zeros((0, self.space_dim(space)), dtype=np.float32)
        return np.vstack([np.asarray(vector, dtype=np.float32) for vector in found])

    def has_vector(self, song: Song, space: str) -> bool:
        """Whether the song has a vector in ``space`` (every song has one in ``features``)."""
        if checked_space(space) == FEATURES:
            return True
        return song.embedding is not None and song.embedding_version == EMBEDDING_VERSION

    def _fresh_vectors(self, songs: Sequence[Song | SongRow], space: str) -> np.ndarray:
        if checked_space(space) == FEATURES:
            return self.vectors(np.vstack([song.feature_vector for song in songs]))
        full = [s if isinstance(s, Song) else self.get_song(s.id) for s in songs]
        lacking = [s.id for s in full if not self.has_vector(s, SOUND)]
        if lacking:
            raise MissingVectorError(
                f"song {lacking[0]} has no vector in the sound space yet: its embedding is "
                f"missing or not of version {EMBEDDING_VERSION}"
            )
        raw = np.vstack([s.feature_vector for s in full])
        embeddings = np.vstack([s.embedding_vector for s in full])
        return row_vectors(SOUND, raw, scaler=self.scaler, embeddings=embeddings)

    def answering_space(self, space: str | None, *, seeds: Sequence[int] = ()) -> str:
        """The space a query answers from (`space_choice`, without the reason)."""
        return self.space_choice(space, seeds=seeds)[0]

    def space_choice(
        self,
        space: str | None,
        *,
        seeds: Sequence[int] = (),
        missing: int | None = None,
        sound_songs: int | None = None,
    ) -> tuple[str, str | None]:
        """The space a query answers from and, when it fell back to ``features``, why.

        ``space`` when the query asks for one, else the default. A query that did not ask for
        a space answers from ``features``, where every song is, when the ``sound`` space
        cannot serve it: songs still await the network (``missing``, else counted now;
        `soundalike backfill`), no song has a sound vector at all (``sound_songs``, else
        counted now), or one of the query's ``seeds`` has none (a clip shorter than one of the
        network's 3-s patches). The reason is then a sentence saying so. A query that asks for
        ``sound`` searches it, and songs without a vector are simply absent.
        """
        if space is not None:
            return checked_space(space), None
        if DEFAULT_SPACE != SOUND:
            return DEFAULT_SPACE, None
        if missing is None:
            missing = self.count_missing_embeddings()
        if missing > 0:
            return FEATURES, (
                f"{missing} song(s) have no {SOUND} embedding yet (soundalike backfill computes "
                f"them); answering from {FEATURES}, where every song is (ask for space={SOUND} "
                f"to search the songs that have one)"
            )
        with self._session() as session:
            if sound_songs is None:
                sound_songs = repo.count_embedded(session, EMBEDDING_VERSION)
            if sound_songs == 0:
                return FEATURES, (
                    f"no song has a {SOUND} vector (every clip is shorter than the network's "
                    f"3-s patch); answering from {FEATURES}"
                )
            lacking = repo.ids_without_sound(session, list(seeds), EMBEDDING_VERSION)
        if lacking:
            return FEATURES, (
                f"song {lacking[0]} is too short for the {SOUND} network (under 3 s); "
                f"answering from {FEATURES}"
            )
        return SOUND, None


def checked_space(space: str) -> str:
    """``space`` when it names a vector space; `ParameterError` otherwise."""
    if space not in SPACES:
        raise ParameterError(f"unknown vector space {space!r}; choose from {', '.join(SPACES)}")
    return space


@cache
def sound_space_version() -> str:
    """A fingerprint of the sound space's vectors: the network's version and the recipe.

    The recipe (`indexer.model.spaces.sound_vectors`) is fingerprinted by its output on fixed
    inputs, rounded so that BLAS differences between machines do not count: a new recipe
    rebuilds the sound index, as a new scaler rebuilds the features index.
    """
    probe = np.random.default_rng(0).random((4, STORED_DIM + N_FEATURES), dtype=np.float32)
    probe[1, : STORED_DIM // 2] = 0.0
    digest = hashlib.sha256(EMBEDDING_VERSION.encode())
    vectors = sound_vectors(probe[:, :STORED_DIM], standardized=probe[:, STORED_DIM:])
    digest.update(np.round(vectors, 4).astype("<f4").tobytes())
    return digest.hexdigest()[:12]
