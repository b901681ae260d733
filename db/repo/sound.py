"""Which songs have the network's sound description of a version, for the backfill and the
sound space: counts, ids and files.

A description is current when ``embedding_version`` is the running network's version. Rows the
network found too short carry that version with a NULL embedding: described as far as they can
be, so the backfill leaves them alone, yet the sound space does not hold them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from db.models import Song
from db.repo.files import FILE_STATE_COLUMNS, FileState
from db.repo.streams import STREAM_BATCH


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
        select(*FILE_STATE_COLUMNS).where(lacks_sound(version)).order_by(Song.id)
    ).all()
    return [FileState(*row) for row in rows]


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
