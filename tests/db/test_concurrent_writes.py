"""Writers that read before they write queue for each other instead of failing half-way."""

from __future__ import annotations

import threading

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import repo
from db.models import Song, features_to_bytes
from db.session import open_database, writer

WRITERS = 4
ROUNDS = 25


def upsert(session: Session, path: str) -> None:
    """The indexer's pattern: look the path up, then insert or update it."""
    song = repo.get_song_by_path(session, path) or Song(path=path)
    song.content_hash = "0" * 64
    song.size_bytes = 1
    song.mtime_ns = 1
    song.title = path
    song.duration_s = 1.0
    song.features = features_to_bytes(np.zeros(57))
    session.add(song)


def test_read_then_write_transactions_from_several_connections(db_url: str) -> None:
    engine = open_database(db_url)
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def work(worker: int) -> None:
        start.wait()
        try:
            for round_ in range(ROUNDS):
                with Session(writer(engine)) as session, session.begin():
                    # Every writer reads a row the others keep rewriting, then writes.
                    upsert(session, "/shared.wav")
                    upsert(session, f"/w{worker}/{round_}.wav")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(WRITERS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        with Session(engine) as session:
            assert session.scalar(select(func.count(Song.id))) == WRITERS * ROUNDS + 1
    finally:
        engine.dispose()
