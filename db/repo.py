"""Queries the indexer, the CLI and the service share, so SQL lives in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from db.models import Song, features_from_bytes, floats_from_bytes
from db.search import search_clause

# Rows fetched per round trip when streaming the whole library.
STREAM_BATCH = 5000


@dataclass(frozen=True)
class FileState:
    """What the database remembers of a file, to tell unchanged, changed and moved files apart."""

    id: int
    path: str
    size_bytes: int
    mtime_ns: int
    content_hash: str
    audio_hash: str | None


# `FileState`'s fields, in order, as columns.
_FILE_STATE_COLUMNS = (
    Song.id,
    Song.path,
    Song.size_bytes,
    Song.mtime_ns,
    Song.content_hash,
    Song.audio_hash,
)


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


def search_songs(
    session: Session, *, q: str | None, limit: int, offset: int
) -> tuple[list[Song], int]:
    """Songs whose title, artist or album contain ``q`` (case-insensitive), and the total."""
    query = select(Song)
    if q:
        query = query.where(search_clause(session, q))
    total = count_matching(session, q=q)
    items = session.scalars(
        query.order_by(Song.artist, Song.title, Song.id).limit(limit).offset(offset)
    ).all()
    return list(items), int(total)


def count_matching(session: Session, *, q: str | None) -> int:
    """Songs whose title, artist or album contain ``q`` (all songs without ``q``)."""
    query = select(Song.id)
    if q:
        query = query.where(search_clause(session, q))
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


@dataclass(frozen=True)
class ListingKey:
    """Where a page of the listing ended: the last song's sort key."""

    artist: str | None
    title: str
    id: int


def list_songs_page(
    session: Session, *, q: str | None, limit: int, after: ListingKey | None
) -> list[Song]:
    """The next ``limit`` songs in listing order (artist, title, id) after ``after``.

    Keyset paging: each page starts with an index seek at the previous page's last key, so the
    last page of a million songs costs what the first does, where ``OFFSET`` walks past every
    skipped row (327 ms at offset 500,000 on PostgreSQL). Songs without an artist sort where
    the database puts NULLs (first on SQLite, last on PostgreSQL, as ``search_songs`` lists
    them); they are read as their own segment, ordered by (title, id), so that each query is
    one range of the (artist, title, id) index rather than an OR the planner cannot seek.
    """
    null_segment_first = session.get_bind().dialect.name == "sqlite"
    segments = [True, False] if null_segment_first else [False, True]
    base = select(Song)
    if q:
        base = base.where(search_clause(session, q))
    songs: list[Song] = []
    started = after is None
    for null_artist in segments:
        if after is not None and not started and (after.artist is None) != null_artist:
            continue  # this whole segment lies before the cursor
        if null_artist:
            query = base.where(Song.artist.is_(None))
            order = (Song.title, Song.id)
            if not started:
                assert after is not None
                query = query.where(tuple_(Song.title, Song.id) > tuple_(after.title, after.id))
        else:
            query = base.where(Song.artist.is_not(None))
            order = (Song.artist, Song.title, Song.id)
            if not started:
                assert after is not None
                query = query.where(
                    tuple_(Song.artist, Song.title, Song.id)
                    > tuple_(after.artist, after.title, after.id)
                )
        started = True
        songs += session.scalars(query.order_by(*order).limit(limit - len(songs))).all()
        if len(songs) >= limit:
            break
    return songs


def list_songs_after(session: Session, *, after_id: int = 0, limit: int) -> list[Song]:
    """Songs in id order after ``after_id``: keyset paging, as cheap on the last page of a
    million songs as on the first (an ``OFFSET`` walks past every skipped row)."""
    rows = session.scalars(select(Song).where(Song.id > after_id).order_by(Song.id).limit(limit))
    return list(rows.all())


def insert_songs_bulk(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Insert new songs as one multi-row statement per call, without building ORM objects.

    For seeding and imports of many rows: about 20 times faster than ``session.add`` per row.
    Each row maps column names to values; ``created_at``/``updated_at`` default to now.
    """
    if rows:
        session.execute(insert(Song), list(rows))


def count_songs(session: Session) -> int:
    """Number of songs in the library."""
    return int(session.scalar(select(func.count(Song.id))) or 0)


def genre_counts(session: Session) -> dict[str, int]:
    """Songs per predicted genre (songs without a genre under ``"unknown"``)."""
    rows = session.execute(select(Song.genre, func.count(Song.id)).group_by(Song.genre)).all()
    return {genre or "unknown": int(n) for genre, n in rows}


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


def file_states(session: Session) -> dict[str, FileState]:
    """Every known file keyed by path, with what a rescan needs to compare."""
    rows = session.execute(select(*_FILE_STATE_COLUMNS)).all()
    return {row.path: FileState(*row) for row in rows}


def lacks_sound(version: str) -> ColumnElement[bool]:
    """Rows whose network description is absent or was written by another ``version``.

    A row marked too short under ``version`` (embedding NULL, ``embedding_version`` set) is not
    lacking: its window was described as far as it can be, and is tried again only when the
    version changes.
    """
    return or_(Song.embedding_version.is_(None), Song.embedding_version != version)


def count_lacking_sound(session: Session, version: str) -> int:
    """Rows that `lacks_sound` selects."""
    return int(session.scalar(select(func.count(Song.id)).where(lacks_sound(version))) or 0)


def files_lacking_sound(session: Session, version: str) -> list[FileState]:
    """The files of the rows `lacks_sound` selects, by id."""
    rows = session.execute(
        select(*_FILE_STATE_COLUMNS).where(lacks_sound(version)).order_by(Song.id)
    ).all()
    return [FileState(*row) for row in rows]


def song_ids_by_path(session: Session, paths: Sequence[str]) -> dict[str, int]:
    """``{path: id}`` of the songs at ``paths`` (unknown paths are absent), in chunks."""
    found: dict[str, int] = {}
    for start in range(0, len(paths), STREAM_BATCH):
        chunk = paths[start : start + STREAM_BATCH]
        rows = session.execute(select(Song.path, Song.id).where(Song.path.in_(chunk))).all()
        found.update({row.path: row.id for row in rows})
    return found


def all_ids(session: Session) -> np.ndarray:
    """Every song id, sorted, as int64."""
    ids = session.scalars(select(Song.id).order_by(Song.id)).all()
    return np.asarray(ids, dtype=np.int64)


def embedded_ids(session: Session, version: str) -> np.ndarray:
    """Ids of the songs with an embedding of ``version``, sorted, as int64."""
    ids = session.scalars(
        select(Song.id)
        .where(Song.embedding.is_not(None), Song.embedding_version == version)
        .order_by(Song.id)
    ).all()
    return np.asarray(ids, dtype=np.int64)


def ids_without_sound(session: Session, ids: Sequence[int], version: str) -> list[int]:
    """Those of ``ids`` whose song has no embedding of ``version`` (unknown ids are left out)."""
    found: list[int] = []
    for start in range(0, len(ids), STREAM_BATCH):
        chunk = list(ids[start : start + STREAM_BATCH])
        found.extend(
            session.scalars(
                select(Song.id).where(
                    Song.id.in_(chunk),
                    or_(Song.embedding.is_(None), Song.embedding_version.is_distinct_from(version)),
                )
            ).all()
        )
    return sorted(found)


def count_embedded(session: Session, version: str) -> int:
    """Songs with an embedding of ``version``: those the sound space holds."""
    query = select(func.count(Song.id)).where(
        Song.embedding.is_not(None), Song.embedding_version == version
    )
    return int(session.scalar(query) or 0)


def iter_features(
    session: Session, ids: Iterable[int] | None = None, *, batch: int = STREAM_BATCH
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(ids, raw features [shape=(n, 57)])`` in batches, streaming large libraries."""
    for rows in _iter_rows(session, Song.features, ids, batch=batch):
        yield _stack(rows, features_from_bytes)


def iter_embeddings(
    session: Session,
    version: str,
    ids: Iterable[int] | None = None,
    *,
    batch: int = STREAM_BATCH,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(ids, embeddings [shape=(n, d)])`` of the songs with an embedding of ``version``.

    Songs without one (NULL, or computed by another version of the network) are left out.
    """
    current = (Song.embedding.is_not(None), Song.embedding_version == version)
    for rows in _iter_rows(session, Song.embedding, ids, batch=batch, where=current):
        yield _stack(rows, floats_from_bytes)


def _iter_rows(
    session: Session,
    column: Any,
    ids: Iterable[int] | None,
    *,
    batch: int,
    where: Sequence[Any] = (),
) -> Iterator[Sequence[Any]]:
    """Batches of ``(id, column)`` rows in id order: of ``ids``, or of every song (keyset)."""
    wanted = None if ids is None else sorted(set(int(i) for i in ids))
    if wanted is not None:
        for start in range(0, len(wanted), batch):
            chunk = wanted[start : start + batch]
            rows = session.execute(
                select(Song.id, column.label("value"))
                .where(Song.id.in_(chunk), *where)
                .order_by(Song.id)
            ).all()
            if rows:
                yield rows
        return
    last_id = 0
    while True:
        rows = session.execute(
            select(Song.id, column.label("value"))
            .where(Song.id > last_id, *where)
            .order_by(Song.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        last_id = rows[-1].id
        yield rows


def iter_tag_vectors(
    session: Session, *, batch: int = STREAM_BATCH
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(ids, tag vectors [shape=(n, 100)])`` in id order, skipping songs without tags."""
    last_id = 0
    while True:
        rows = session.execute(
            select(Song.id, Song.tag_probabilities)
            .where(Song.id > last_id, Song.tag_probabilities.is_not(None))
            .order_by(Song.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        last_id = rows[-1].id
        ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
        yield ids, np.vstack([floats_from_bytes(row.tag_probabilities) for row in rows])


def _stack(rows: Sequence, decode: Callable[[bytes], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
    values = np.vstack([decode(row.value) for row in rows])
    return ids, values


def delete_songs(session: Session, ids: Iterable[int]) -> int:
    """Delete songs by id; returns how many rows went."""
    id_list = [int(i) for i in ids]
    if not id_list:
        return 0
    result = session.execute(delete(Song).where(Song.id.in_(id_list)))
    return int(result.rowcount or 0)


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
