"""The schema exists only through Alembic, on SQLite and PostgreSQL, and matches the models."""

from __future__ import annotations

import numpy as np
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect
from sqlalchemy.orm import Session

from db import repo
from db.models import Base, Song, features_to_bytes, utcnow
from db.search import is_search_object
from db.session import create_db_engine, current_revision, downgrade, head_revision, upgrade


def include_name(name: str | None, _type: str, _parents: object) -> bool:
    return not is_search_object(name)


def test_upgrade_from_empty_creates_the_schema(db_url: str) -> None:
    engine = create_db_engine(db_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    columns = {c["name"] for c in inspect(engine).get_columns("songs")}
    assert {"path", "content_hash", "features", "genre", "genre_probabilities"} <= columns
    engine.dispose()


def test_downgrade_to_base_and_back(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine)
    downgrade(engine, "base")
    assert "songs" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "songs" in inspect(engine).get_table_names()
    engine.dispose()


def test_models_and_migrations_agree(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    engine.dispose()


def test_revision_0002_adds_listing_and_sync_indexes_and_keeps_rows(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine, "0001")
    row = {
        "path": "/m/a.wav",
        "content_hash": "0" * 64,
        "size_bytes": 1,
        "mtime_ns": 1,
        "title": "a",
        "duration_s": 30.0,
        "features": features_to_bytes(np.zeros(57)),
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    with engine.begin() as conn:
        conn.execute(insert(Song.__table__), [row])
    before = {ix["name"] for ix in inspect(engine).get_indexes("songs")}
    assert "ix_songs_artist_title" in before
    upgrade(engine, "0002")
    after = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("songs")}
    assert after["ix_songs_updated_at"] == ["updated_at"]
    assert after["ix_songs_artist_title_id"] == ["artist", "title", "id"]
    assert "ix_songs_artist_title" not in after
    with Session(engine) as session:
        assert repo.count_songs(session) == 1
    downgrade(engine, "0001")
    names = {ix["name"] for ix in inspect(engine).get_indexes("songs")}
    assert names == before
    engine.dispose()


def test_bulk_insert_and_keyset_listing(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine)
    rows = [
        {
            "path": f"/m/{i}.wav",
            "content_hash": f"{i:064d}",
            "size_bytes": i,
            "mtime_ns": i,
            "title": f"t{i}",
            "duration_s": 30.0,
            "features": features_to_bytes(np.full(57, float(i))),
        }
        for i in range(250)
    ]
    with Session(engine) as session, session.begin():
        repo.insert_songs_bulk(session, rows)
    with Session(engine) as session:
        seen: list[int] = []
        after = 0
        while page := repo.list_songs_after(session, after_id=after, limit=100):
            seen += [song.id for song in page]
            after = page[-1].id
        assert len(seen) == 250
        assert seen == sorted(seen)
        assert repo.get_song(session, seen[7]).feature_vector[0] == 7.0
        assert repo.get_song(session, seen[0]).updated_at is not None
    engine.dispose()


def test_revision_0005_adds_the_audio_hash_after_the_sound_space_and_keeps_rows(
    db_url: str,
) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine, "0004")
    row = {
        "path": "/m/a.wav",
        "content_hash": "0" * 64,
        "size_bytes": 1,
        "mtime_ns": 1,
        "title": "a",
        "duration_s": 30.0,
        "features": features_to_bytes(np.zeros(57)),
        "embedding_version": "v",
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    with engine.begin() as conn:
        conn.execute(insert(Song.__table__).values(row))
    upgrade(engine, "0005")
    assert "audio_hash" in {c["name"] for c in inspect(engine).get_columns("songs")}
    with Session(engine) as session:
        (state,) = repo.file_states(session).values()
        assert state.audio_hash is None  # learnt at the file's next analysis or backfill
        assert repo.get_song(session, state.id).embedding_version == "v"
    downgrade(engine, "0004")
    columns = {c["name"] for c in inspect(engine).get_columns("songs")}
    assert "audio_hash" not in columns
    assert "embedding_version" in columns
    engine.dispose()
