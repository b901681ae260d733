"""The songs as files on disk: what a rescan compares, and which rows the given paths are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Song
from db.repo.streams import STREAM_BATCH


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
FILE_STATE_COLUMNS = (
    Song.id,
    Song.path,
    Song.size_bytes,
    Song.mtime_ns,
    Song.content_hash,
    Song.audio_hash,
)


def file_states(session: Session) -> dict[str, FileState]:
    """Every known file keyed by path, with what a rescan needs to compare."""
    rows = session.execute(select(*FILE_STATE_COLUMNS)).all()
    return {row.path: FileState(*row) for row in rows}


def song_ids_by_path(session: Session, paths: Sequence[str]) -> dict[str, int]:
    """``{path: id}`` of the songs at ``paths`` (unknown paths are absent), in chunks."""
    found: dict[str, int] = {}
    for start in range(0, len(paths), STREAM_BATCH):
        chunk = paths[start : start + STREAM_BATCH]
        rows = session.execute(select(Song.path, Song.id).where(Song.path.in_(chunk))).all()
        found.update({row.path: row.id for row in rows})
    return found
