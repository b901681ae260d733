"""Queries the indexer, the CLI and the service share, so SQL lives in one place."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from db.models import Song, features_from_bytes

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


def get_song(session: Session, song_id: int) -> Song | None:
    """One song by id, or None."""
    return session.get(Song, song_id)


def get_song_by_path(session: Session, path: str) -> Song | None:
    """One song by its absolute path, or None."""
    return session.scalars(select(Song).where(Song.path == path)).one_or_none()


def get_songs(session: Session, ids: Sequence[int]) -> dict[int, Song]:
    """Songs for the given ids, keyed by id; ids that are gone are absent."""
    if not ids:
        return {}
    rows = session.scalars(select(Song).where(Song.id.in_(list(ids)))).all()
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


def candidate_rows(session: Session, ids: Sequence[int]) -> dict[int, CandidateRow]:
    """`CandidateRow` for the given ids, keyed by id; ids that are gone are absent.

    Re-ranking reads about ten times more candidates than it returns, so it loads these few
    columns and builds full `Song` objects only for the songs it keeps.
    """
    if not ids:
        return {}
    columns = (Song.id, Song.title, Song.artist, Song.album, Song.duration_s, Song.genre)
    rows = session.execute(select(*columns, Song.features).where(Song.id.in_(list(ids))))
    return {row[0]: CandidateRow(*row[:6], features=features_from_bytes(row[6])) for row in rows}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_songs(
    session: Session, *, q: str | None, limit: int, offset: int
) -> tuple[list[Song], int]:
    """Songs whose title, artist or album contain ``q`` (case-insensitive), and the total."""
    query = select(Song)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        query = query.where(
            or_(
                func.lower(Song.title).like(pattern, escape="\\"),
                func.lower(Song.artist).like(pattern, escape="\\"),
                func.lower(Song.album).like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.order_by(Song.artist, Song.title, Song.id).limit(limit).offset(offset)
    ).all()
    return list(items), int(total)


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
    rows = session.execute(
        select(Song.id, Song.path, Song.size_bytes, Song.mtime_ns, Song.content_hash)
    ).all()
    return {row.path: FileState(*row) for row in rows}


def all_ids(session: Session) -> np.ndarray:
    """Every song id, sorted, as int64."""
    ids = session.scalars(select(Song.id).order_by(Song.id)).all()
    return np.asarray(ids, dtype=np.int64)


def iter_features(
    session: Session, ids: Iterable[int] | None = None, *, batch: int = STREAM_BATCH
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(ids, raw features [shape=(n, 57)])`` in batches, streaming large libraries."""
    wanted = None if ids is None else sorted(set(int(i) for i in ids))
    if wanted is not None:
        for start in range(0, len(wanted), batch):
            chunk = wanted[start : start + batch]
            rows = session.execute(
                select(Song.id, Song.features).where(Song.id.in_(chunk)).order_by(Song.id)
            ).all()
            if rows:
                yield _stack(rows)
        return
    last_id = 0
    while True:
        rows = session.execute(
            select(Song.id, Song.features).where(Song.id > last_id).order_by(Song.id).limit(batch)
        ).all()
        if not rows:
            return
        last_id = rows[-1].id
        yield _stack(rows)


def _stack(rows: Sequence) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
    raw = np.vstack([features_from_bytes(row.features) for row in rows])
    return ids, raw


def delete_songs(session: Session, ids: Iterable[int]) -> int:
    """Delete songs by id; returns how many rows went."""
    id_list = [int(i) for i in ids]
    if not id_list:
        return 0
    result = session.execute(delete(Song).where(Song.id.in_(id_list)))
    return int(result.rowcount or 0)
