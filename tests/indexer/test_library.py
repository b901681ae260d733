"""The database is the source of truth; the index follows it, on SQLite and PostgreSQL.

These songs have no sound embedding, so their index is the ``features`` space's; the two
spaces side by side are tests/indexer/test_spaces.py.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import update

from db.models import Song
from indexer.audio.analyse import SongRecord
from indexer.errors import NotFoundError, StoreError
from indexer.library import Library
from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.spaces import FEATURES
from indexer.settings import Settings
from indexer.vectors.store import load_index, save_index


@pytest.fixture(scope="module")
def table_rows():
    table = load_table(bundled_table_path())
    return table.X, table.labels


def record(i: int, features: np.ndarray) -> SongRecord:
    return SongRecord(
        path=f"/music/song{i}.wav",
        content_hash=f"{i:064x}",
        size_bytes=1000 + i,
        mtime_ns=i,
        title=f"Song {i}",
        artist="Artist" if i % 2 else None,
        album=None,
        duration_s=30.0,
        features=features,
    )


def test_write_sync_and_query(library: Library, table_rows) -> None:
    X, labels = table_rows
    ids = library.write_songs([record(i, X[i]) for i in range(40)])
    assert len(set(ids)) == 40
    manifest = library.sync_index(space=FEATURES)
    index, _ = load_index(library.index_dir(FEATURES))
    assert manifest.count == 40
    assert sorted(index.ids().tolist()) == sorted(ids)
    song, neighbours = library.similar_to_song(ids[0], k=5, space=FEATURES)
    assert song.genre in set(labels)
    assert 0 < song.genre_confidence <= 1
    assert sum(song.genre_probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert len(neighbours) == 5
    assert ids[0] not in [n.song.id for n in neighbours]
    scores = [n.score for n in neighbours]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores)


def test_rewriting_a_path_updates_in_place(library: Library, table_rows) -> None:
    X, _ = table_rows
    [first] = library.write_songs([record(1, X[1])])
    [again] = library.write_songs([record(1, X[500])])
    assert again == first
    library.sync_index(space=FEATURES)
    index, _ = load_index(library.index_dir(FEATURES))
    assert len(index) == 1
    np.testing.assert_allclose(index.reconstruct(first), library.vectors(X[500])[0], atol=1e-6)


def test_sync_repairs_an_index_left_behind_by_a_crash(library: Library, table_rows) -> None:
    X, _ = table_rows
    ids = library.write_songs([record(i, X[i]) for i in range(10)])
    library.sync_index(space=FEATURES)
    # A crash after the database commit but before the index save: rows changed and removed.
    library.remove_songs(ids[:2])
    library.write_songs([record(9, X[900]), record(50, X[50])])
    manifest = library.sync_index(space=FEATURES)
    index, _ = load_index(library.index_dir(FEATURES))
    assert sorted(index.ids().tolist()) == library.all_ids().tolist()
    assert manifest.count == 9
    np.testing.assert_allclose(index.reconstruct(ids[9]), library.vectors(X[900])[0], atol=1e-6)


def test_stale_rows_are_found_by_time_even_if_the_index_has_their_id(
    library: Library, table_rows
) -> None:
    X, _ = table_rows
    [song_id] = library.write_songs([record(3, X[3])])
    library.sync_index(space=FEATURES)
    # Simulate an update committed after the last sync whose index save never happened.
    with library.write_session() as session, session.begin():
        session.execute(
            update(Song)
            .where(Song.id == song_id)
            .values(
                features=X[700].astype("<f8").tobytes(),
                updated_at=datetime.now(UTC) + timedelta(seconds=1),
            )
        )
    library.sync_index(space=FEATURES)
    index, _ = load_index(library.index_dir(FEATURES))
    np.testing.assert_allclose(index.reconstruct(song_id), library.vectors(X[700])[0], atol=1e-6)


def test_damaged_index_is_rebuilt_from_rows(library: Library, table_rows) -> None:
    X, _ = table_rows
    library.write_songs([record(i, X[i]) for i in range(5)])
    manifest = library.sync_index(space=FEATURES)
    (library.index_dir(FEATURES) / manifest.index_file).write_bytes(b"garbage")
    with pytest.raises(StoreError):
        load_index(library.index_dir(FEATURES))
    index, manifest2 = library.load_index(space=FEATURES)
    assert len(index) == 5
    assert manifest2.generation > manifest.generation


def test_scaler_change_rebuilds(library: Library, table_rows) -> None:
    X, _ = table_rows
    library.write_songs([record(i, X[i]) for i in range(4)])
    index, manifest = library.load_index(space=FEATURES)
    save_index(
        index,
        library.index_dir(FEATURES),
        scaler_version="another-scaler",
        model_version=None,
        synced_at=manifest.synced_at,
    )
    manifest = library.sync_index(space=FEATURES)
    assert manifest.scaler_version == library.scaler.version
    assert manifest.count == 4


def test_non_finite_features_never_reach_the_database(library: Library, table_rows) -> None:
    X, _ = table_rows
    bad = X[0].copy()
    bad[5] = np.inf
    with pytest.raises(StoreError):
        library.write_songs([record(0, bad)])
    assert library.stats()["songs"] == 0


def test_resolve_unknown_song(library: Library) -> None:
    with pytest.raises(NotFoundError):
        library.resolve_song("12345")
    with pytest.raises(NotFoundError):
        library.similar_to_song(12345, k=3)


def test_relabel_and_stats(library: Library, table_rows) -> None:
    X, _ = table_rows
    library.write_songs([record(i, X[i]) for i in (0, 100, 200)])
    library.sync_index(space=FEATURES)
    assert library.relabel_genres() == 3
    stats = library.stats()
    assert stats["songs"] == 3
    # No song has a sound embedding: all three are in the features index only, and that is
    # the space queries answer from.
    assert stats["spaces"]["features"]["indexed"] == stats["indexed"] == 3
    assert stats["spaces"]["sound"]["indexed"] == 0
    assert stats["space"] == "features"
    assert sum(stats["genres"].values()) == 3
    assert stats["model_version"] == library.genre_model.version


def test_sync_without_changes_keeps_the_generation(library: Library, table_rows) -> None:
    X, _ = table_rows
    ids = library.write_songs([record(i, X[i]) for i in range(6)])
    first = library.sync_index(space=FEATURES)
    assert library.sync_index(space=FEATURES).generation == first.generation
    library.write_songs([record(2, X[2])])  # rewritten with identical features
    assert library.sync_index(space=FEATURES).generation == first.generation
    library.remove_songs(ids[:1])
    assert library.sync_index(space=FEATURES).generation == first.generation + 1


def test_a_compressed_index_keeps_its_generation_when_nothing_changed(
    settings: Settings, table_rows
) -> None:
    # ivf-sq8 stores each vector rounded to a byte per value, so a stored vector never equals
    # the one computed from its row: a sync compares them as the index would store them.
    X, _ = table_rows
    library = Library(dataclasses.replace(settings, index_kind="ivf-sq8"))
    try:
        library.write_songs([record(i, X[i]) for i in range(300)])
        first = library.sync_index(space=FEATURES)
        assert load_index(library.index_dir(FEATURES))[0].kind == "ivf-sq8"
        assert library.sync_index(space=FEATURES).generation == first.generation
        library.write_songs([record(7, X[7])])  # rewritten with identical features
        assert library.sync_index(space=FEATURES).generation == first.generation
        library.write_songs([record(8, X[9])])  # new features
        assert library.sync_index(space=FEATURES).generation == first.generation + 1
    finally:
        library.engine.dispose()
