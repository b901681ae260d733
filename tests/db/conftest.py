"""A library database holding songs with given tags and nothing else, on either database."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, insert

from db.models import Song, features_to_bytes, utcnow
from db.session import open_database, writer


def database_with(db_url: str, tags: list[tuple[str, str | None, str | None]]) -> Engine:
    """A migrated database with one song per ``(title, artist, album)``, ids in list order."""
    engine = open_database(db_url)
    rows = [
        {
            "path": f"/m/{i}.flac",
            "content_hash": f"{i:064x}",
            "size_bytes": 1,
            "mtime_ns": 1,
            "title": title,
            "artist": artist,
            "album": album,
            "duration_s": 1.0,
            "features": features_to_bytes(np.zeros(57)),
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        for i, (title, artist, album) in enumerate(tags)
    ]
    with writer(engine).begin() as conn:
        conn.execute(insert(Song.__table__), rows)
    return engine
