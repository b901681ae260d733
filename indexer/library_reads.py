"""The read half of `indexer.library.Library`: every query of songs the CLI and service make.

Kept in its own module so that `Library` stays a screen or two long; callers never import this
module, they call these methods on a `Library`. Nothing outside `Library` opens a database
session (tests/test_library_rule.py checks it), so a query changes in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db import repo
from db.models import Song
from db.repo import CandidateRow, FileState, ListingKey, SongLabel, SongPlace, SongRow
from db.session import single_reader
from indexer.audio.embedding import EMBEDDING_VERSION
from indexer.errors import NotFoundError
from indexer.model.tags import (
    TAG_THRESHOLD,
    TAG_VOCABULARY,
    TagScore,
    merge_tag_probabilities,
    profile_scores,
    top_tags,
)


class LibraryReads:
    """Reads of songs, their labels and their raw features; `Library` inherits these."""

    engine: Engine

    @cached_property
    def _single_reader(self) -> Engine:
        return single_reader(self.engine)

    def _session(self) -> Session:
        """A new ORM session for reading; objects stay usable after commit."""
        return Session(self.engine, expire_on_commit=False)

    def get_song(self, song_id: int) -> Song:
        """The song with this id; `NotFoundError` when there is none."""
        with self._session() as session:
            song = repo.get_song(session, song_id)
        if song is None:
            raise NotFoundError(f"no song with id {song_id}")
        return song

    def get_songs(self, ids: Sequence[int]) -> dict[int, Song]:
        """The songs of ``ids`` that exist, keyed by id (missing ids are simply absent)."""
        with self._session() as session:
            return repo.get_songs(session, list(ids))

    def require_songs(self, ids: Sequence[int]) -> dict[int, Song]:
        """The songs of ``ids``; `NotFoundError` names the first id no song has."""
        songs = self.get_songs(ids)
        missing = [i for i in ids if i not in songs]
        if missing:
            raise NotFoundError(f"no song with id {missing[0]}")
        return songs

    def resolve_song(self, ref: str) -> Song:
        """A song by numeric id or by file path."""
        with self._session() as session:
            song = None
            if ref.isdigit():
                song = repo.get_song(session, int(ref))
            if song is None:
                song = repo.get_song_by_path(session, str(Path(ref).expanduser().absolute()))
        if song is None:
            raise NotFoundError(f"no song with id or path {ref!r}")
        return song

    def song_rows(self, ids: Sequence[int]) -> dict[int, SongRow]:
        """What an answer shows of these songs: one SELECT, no ORM objects, no BEGIN.

        The neighbour queries' hot path: plain rows cost a fraction of ORM objects.
        """
        with self._single_reader.connect() as connection:
            return repo.get_song_rows(connection, ids)

    def candidate_rows(self, ids: Sequence[int]) -> dict[int, CandidateRow]:
        """What re-ranking compares of these songs, keyed by id."""
        with self._session() as session:
            return repo.candidate_rows(session, ids)

    def song_labels(self, ids: Sequence[int]) -> dict[int, SongLabel]:
        """Title, artist and genre of these songs, keyed by id (for maps and tooltips)."""
        with self._session() as session:
            return repo.song_labels(session, ids)

    def search_songs(self, *, q: str | None, limit: int, offset: int) -> tuple[list[Song], int]:
        """Songs whose title, artist or album contain ``q``, in listing order, and the total."""
        with self._session() as session:
            return repo.search_songs(session, q=q, limit=limit, offset=offset)

    def list_songs_page(
        self, *, q: str | None, limit: int, after: ListingKey | None
    ) -> tuple[list[Song], int]:
        """The next ``limit`` songs matching ``q`` after ``after`` (keyset paging); the total."""
        with self._session() as session:
            items = repo.list_songs_page(session, q=q, limit=limit, after=after)
            return items, repo.count_matching(session, q=q)

    def list_songs_after(self, *, after_id: int = 0, limit: int) -> list[Song]:
        """Songs in id order after ``after_id`` (keyset paging by id)."""
        with self._session() as session:
            return repo.list_songs_after(session, after_id=after_id, limit=limit)

    def count_songs(self) -> int:
        """Songs in the database."""
        with self._session() as session:
            return repo.count_songs(session)

    def genre_counts(self) -> dict[str, int]:
        """Songs per genre label."""
        with self._session() as session:
            return repo.genre_counts(session)

    def file_states(self) -> dict[str, FileState]:
        """Every known file keyed by path, with what a rescan needs to compare."""
        with self._session() as session:
            return repo.file_states(session)

    def count_missing_embeddings(self) -> int:
        """Songs without the current network description: NULL embedding or an old version.

        Songs recorded as too short for the network under the current version (NULL embedding,
        current ``embedding_version``) are not missing; they are in the ``features`` space only.
        While this is above 0 the ``sound`` space is incomplete.
        """
        with self._session() as session:
            return repo.count_lacking_sound(session, EMBEDDING_VERSION)

    def files_missing_embeddings(self) -> list[FileState]:
        """The files of the songs `count_missing_embeddings` counts, by id."""
        with self._session() as session:
            return repo.files_lacking_sound(session, EMBEDDING_VERSION)

    def song_ids_by_path(self, paths: Iterable[str]) -> dict[str, int]:
        """The ids of the songs at these paths, keyed by path (unknown paths are absent)."""
        with self._session() as session:
            return repo.song_ids_by_path(session, list(paths))

    def all_ids(self) -> np.ndarray:
        """Every song id, sorted, as int64."""
        with self._session() as session:
            return repo.all_ids(session)

    def raw_features(self, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, raw features [shape=(n, 57)])`` of ``ids`` (every song when None), by id."""
        id_parts: list[np.ndarray] = []
        raw_parts: list[np.ndarray] = []
        with self._session() as session:
            for chunk_ids, raw in repo.iter_features(session, ids):
                id_parts.append(chunk_ids)
                raw_parts.append(raw)
        if not id_parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0))
        return np.concatenate(id_parts), np.vstack(raw_parts)

    # --- tags (indexer.model.tags) -------------------------------------------------------

    def song_top_tags(self, song_id: int) -> list[TagScore]:
        """A song's top tags, best first; empty when its tags are not computed yet."""
        return top_tags(self.get_song(song_id).tag_vector)

    def songs_matching_tags(
        self, tags: Sequence[str], *, limit: int, carrying_all: bool = False
    ) -> list[tuple[int, float]]:
        """``(id, score)`` of the ``limit`` songs that best match a tag profile, best first.

        The score is `profile_scores`' geometric mean; with ``carrying_all`` only songs that
        carry every one of ``tags`` count. Songs without tags never match. The tag column is
        streamed in batches, so memory stays bounded at any size.
        """
        columns = [TAG_VOCABULARY.index(t) for t in tags]
        best_ids = np.zeros(0, dtype=np.int64)
        best_scores = np.zeros(0)
        with self._session() as session:
            for ids, vectors in repo.iter_tag_vectors(session):
                scores = profile_scores(vectors, tags)
                if carrying_all:
                    merged = merge_tag_probabilities(vectors)[:, columns]
                    keep = (merged >= TAG_THRESHOLD).all(axis=1)
                    ids, scores = ids[keep], scores[keep]
                best_ids = np.concatenate([best_ids, ids])
                best_scores = np.concatenate([best_scores, scores])
                if len(best_ids) > limit:
                    # Ties broken by id, so the same library always gives the same seeds.
                    kept = np.lexsort((best_ids, -best_scores))[:limit]
                    best_ids, best_scores = best_ids[kept], best_scores[kept]
        order = np.lexsort((best_ids, -best_scores))[:limit]
        return [(int(best_ids[i]), float(best_scores[i])) for i in order]

    def tag_counts(self, *, threshold: float = TAG_THRESHOLD) -> tuple[int, dict[str, int]]:
        """Songs that have tag probabilities, and how many of them carry each tag."""
        counts = np.zeros(len(TAG_VOCABULARY), dtype=np.int64)
        tagged = 0
        with self._session() as session:
            for ids, vectors in repo.iter_tag_vectors(session):
                tagged += len(ids)
                counts += (merge_tag_probabilities(vectors) >= threshold).sum(axis=0)
        return tagged, {tag: int(n) for tag, n in zip(TAG_VOCABULARY, counts, strict=True)}

    def stored_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, stored network embeddings [shape=(n, 400)])`` of every song that has one."""
        id_parts: list[np.ndarray] = []
        parts: list[np.ndarray] = []
        with self._session() as session:
            for chunk_ids, embeddings in repo.iter_embeddings(session, EMBEDDING_VERSION):
                id_parts.append(chunk_ids)
                parts.append(embeddings)
        if not id_parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(id_parts), np.vstack(parts)

    def song_places(self, ids: Sequence[int]) -> dict[int, SongPlace]:
        """Path, artist, album and duration of these songs, keyed by id (evaluation's groups)."""
        with self._session() as session:
            return repo.song_places(session, ids)
