"""`repo.get_song_rows`: the service's light read gives what the ORM read gives."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from db import repo
from db.models import Song
from db.session import single_reader
from indexer.library import Library


def test_song_rows_equal_orm_songs(library: Library) -> None:
    with library.write_session() as session, session.begin():
        for i in range(3):
            session.add(
                Song(
                    path=f"/music/{i}.flac",
                    content_hash=f"{i:064x}",
                    size_bytes=1000 + i,
                    mtime_ns=i,
                    title=f"Song {i}",
                    artist=None if i == 1 else "Artist",
                    album="Album",
                    duration_s=30.5,
                    features=np.arange(57, dtype=np.float64).tobytes(),
                    genre="jazz",
                    genre_confidence=0.7,
                    genre_probabilities={"jazz": 0.7, "blues": 0.3},
                    model_version="m",
                )
            )
    songs = library.get_songs([1, 2, 3, 99])
    with single_reader(library.engine).connect() as connection:
        rows = repo.get_song_rows(connection, [3, 1, 2, 99])
    assert sorted(rows) == sorted(songs) == [1, 2, 3]
    for song_id, row in rows.items():
        for field in fields(row):
            assert getattr(row, field.name) == getattr(songs[song_id], field.name), field.name
        np.testing.assert_array_equal(row.feature_vector, songs[song_id].feature_vector)
    assert rows[2].artist is None
    assert rows[1].genre_probabilities == {"jazz": 0.7, "blues": 0.3}
    with single_reader(library.engine).connect() as connection:
        assert repo.get_song_rows(connection, []) == {}
