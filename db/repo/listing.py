"""The song listing: search, its pages (by offset or by keyset) and the counts beside it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from db.models import Song
from db.search import search_clause


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


def count_songs(session: Session) -> int:
    """Number of songs in the library."""
    return int(session.scalar(select(func.count(Song.id))) or 0)


def genre_counts(session: Session) -> dict[str, int]:
    """Songs per predicted genre (songs without a genre under ``"unknown"``)."""
    rows = session.execute(select(Song.genre, func.count(Song.id)).group_by(Song.genre)).all()
    return {genre or "unknown": int(n) for genre, n in rows}
