"""Songs by id or path: ORM objects where a caller edits or shows a whole song, and light row
views (`SongRow`, `CandidateRow`, `SongLabel`, `SongPlace`) where a hot path or a large set
reads a few columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from db.models import Song, features_from_bytes, floats_from_bytes
from db.repo.streams import STREAM_BATCH


def get_song(session: Session, song_id: int) -> Song | None:
    """One song by id, or None."""
    return session.get(Song, song_id)


def get_song_by_path(session: Session, path: str) -> Song | None:
    """One song by its absolute path, or None."""
    return session.scalars(select(Song).where(Song.path == path)).one_or_none()


@dataclass(frozen=True, slots=True)
class SongRow:
    """The columns a query answer shows of a song, read without an ORM object.

    The neighbour query reads eleven rows a request; building ORM instances for them cost
    more CPU than the search itself. Attribute names match `Song`, so views accept either.
    """

    id: int
    path: str
    size_bytes: int
    title: str
    artist: str | None
    album: str | None
    duration_s: float
    features: bytes
    genre: str | None
    genre_confidence: float | None
    genre_probabilities: dict[str, Any] | None
    model_version: str | None
    tag_probabilities: bytes | None

    @property
    def feature_vector(self) -> np.ndarray:
        """The 57 raw features, float64."""
        return features_from_bytes(self.features)

    @property
    def tag_vector(self) -> np.ndarray | None:
        """The 100 stored tag probabilities, float32, or None when not yet computed."""
        return None if self.tag_probabilities is None else floats_from_bytes(self.tag_probabilities)


_ROW_COLUMNS = [Song.__table__.c[f.name] for f in fields(SongRow)]
_ROWS_BY_ID = select(*_ROW_COLUMNS).where(Song.id.in_(bindparam("ids", expanding=True)))


def get_song_rows(connection: Connection, ids: Sequence[int]) -> dict[int, SongRow]:
    """`SongRow` views of the given ids, keyed by id; ids that are gone are absent."""
    if not ids:
        return {}
    result = connection.execute(_ROWS_BY_ID, {"ids": list(ids)})
    return {row[0]: SongRow(*row) for row in result}


# Built once: constructing the statement and its cache key on every call cost as much CPU as
# running it (0.58 against 0.28 ms for 11 songs at 1M rows, SQLite, in process).
_SONGS_BY_ID = select(Song).where(Song.id.in_(bindparam("ids", expanding=True)))


def get_songs(session: Session, ids: Sequence[int]) -> dict[int, Song]:
    """Songs for the given ids, keyed by id; ids that are gone are absent."""
    if not ids:
        return {}
    rows = session.scalars(_SONGS_BY_ID, {"ids": list(ids)}).all()
    return {song.id: song for song in rows}


@dataclass(frozen=True)
class CandidateRow:
    """The columns re-ranking reads of a candidate song: no ORM object, no JSON to decode."""

    id: int
    title: str
    artist: str | None
    album: str | None
    duration_s: float
    genre: str | None
    features: np.ndarray
    tags: np.ndarray | None = None
    """The stored tag probabilities [shape=(100,)], None when not yet computed."""


def candidate_rows(session: Session, ids: Sequence[int]) -> dict[int, CandidateRow]:
    """`CandidateRow` for the given ids, keyed by id; ids that are gone are absent.

    Re-ranking reads about ten times more candidates than it returns, so it loads these few
    columns and builds full `Song` objects only for the songs it keeps.
    """
    if not ids:
        return {}
    columns = (Song.id, Song.title, Song.artist, Song.album, Song.duration_s, Song.genre)
    rows = session.execute(
        select(*columns, Song.features, Song.tag_probabilities).where(Song.id.in_(list(ids)))
    )
    return {
        row[0]: CandidateRow(
            *row[:6],
            features=features_from_bytes(row[6]),
            tags=None if row[7] is None else floats_from_bytes(row[7]),
        )
        for row in rows
    }


@dataclass(frozen=True)
class SongLabel:
    """Just enough of a song to name it and colour it by genre."""

    id: int
    title: str
    artist: str | None
    genre: str | None


def song_labels(session: Session, ids: Sequence[int]) -> dict[int, SongLabel]:
    """Titles, artists and genres for many songs, without loading features or probabilities."""
    labels: dict[int, SongLabel] = {}
    id_list = [int(i) for i in ids]
    for start in range(0, len(id_list), STREAM_BATCH):
        rows = session.execute(
            select(Song.id, Song.title, Song.artist, Song.genre).where(
                Song.id.in_(id_list[start : start + STREAM_BATCH])
            )
        ).all()
        labels.update({row.id: SongLabel(*row) for row in rows})
    return labels


@dataclass(frozen=True)
class SongPlace:
    """Where a song sits in a collection: its file, artist and album (groups for evaluation)."""

    id: int
    path: str
    artist: str | None
    album: str | None
    duration_s: float


def song_places(session: Session, ids: Sequence[int]) -> dict[int, SongPlace]:
    """Path, artist, album and duration of many songs, keyed by id, without their vectors."""
    places: dict[int, SongPlace] = {}
    id_list = [int(i) for i in ids]
    for start in range(0, len(id_list), STREAM_BATCH):
        rows = session.execute(
            select(Song.id, Song.path, Song.artist, Song.album, Song.duration_s).where(
                Song.id.in_(id_list[start : start + STREAM_BATCH])
            )
        ).all()
        places.update({row.id: SongPlace(*row) for row in rows})
    return places
