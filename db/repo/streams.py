"""The whole library (or a large set of ids) streamed in batches: ids, features, embeddings, tags.

Index builds and evaluations read every song's vector; batches keep memory flat at a million
songs, and keyset paging (``id > last``) keeps each batch as cheap as the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Song, features_from_bytes, floats_from_bytes

# Rows fetched per round trip when streaming the whole library.
STREAM_BATCH = 5000


def all_ids(session: Session) -> np.ndarray:
    """Every song id, sorted, as int64."""
    ids = session.scalars(select(Song.id).order_by(Song.id)).all()
    return np.asarray(ids, dtype=np.int64)


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
    tagged = (Song.tag_probabilities.is_not(None),)
    for rows in _iter_rows(session, Song.tag_probabilities, None, batch=batch, where=tagged):
        yield _stack(rows, floats_from_bytes)


def _stack(rows: Sequence, decode: Callable[[bytes], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
    values = np.vstack([decode(row.value) for row in rows])
    return ids, values
