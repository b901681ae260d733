"""Substring search through the trigram index, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, inspect, update
from sqlalchemy.orm import Session

from db import repo
from db.models import Song
from db.search import PG_INDEXES, SEARCH_TABLE
from db.session import writer
from tests.db.conftest import database_with

SONGS = [
    ("Blue in Green", "Miles Davis", "Kind of Blue"),
    ("So What", "Miles Davis", "Kind of Blue"),
    ("Blackbird", "The Beatles", "The White Album"),
    ('Say "Hello"', None, None),
    ("100% Pure_Love", "Crystal Waters", None),
    ("Ça plane pour moi", "Plastic Bertrand", "An 1"),
]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = database_with(db_url, SONGS)
    yield engine
    engine.dispose()


def titles(engine: Engine, q: str) -> list[str]:
    with Session(engine) as session:
        songs, total = repo.search_songs(session, q=q, limit=50, offset=0)
    assert total == len(songs)
    return sorted(s.title for s in songs)


def test_the_trigram_index_exists(engine: Engine) -> None:
    inspector = inspect(engine)
    if engine.dialect.name == "sqlite":
        assert SEARCH_TABLE in inspector.get_table_names()
    else:
        assert set(PG_INDEXES) <= {ix["name"] for ix in inspector.get_indexes("songs")}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("blue", ["Blue in Green", "So What"]),  # title, and album "Kind of Blue"
        ("MILES", ["Blue in Green", "So What"]),  # artist, any case
        ("white alb", ["Blackbird"]),  # album, across a space
        ('"hello"', ['Say "Hello"']),  # quotes are text, not query syntax
        ("100%", ["100% Pure_Love"]),  # LIKE wildcards are text too
        ("e_l", ["100% Pure_Love"]),
        ("so", ["So What"]),  # shorter than a trigram: the scan
        ("zzz", []),
    ],
)
def test_substring_search(engine: Engine, q: str, expected: list[str]) -> None:
    assert titles(engine, q) == expected


def test_search_follows_updates_and_deletes(engine: Engine) -> None:
    with Session(writer(engine)) as session, session.begin():
        session.execute(update(Song).where(Song.title == "So What").values(title="Freddie"))
        session.execute(delete(Song).where(Song.title == "Blackbird"))
    assert titles(engine, "what") == []
    assert titles(engine, "freddie") == ["Freddie"]
    assert titles(engine, "beatles") == []
