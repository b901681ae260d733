"""Keyset pages walk the listing in the same order as offsets, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db import repo
from tests.db.conftest import database_with

# Ties on artist and title, missing artists, and case: what the sort order has to settle.
TAGS = [
    ("b", "x"), ("a", "y"), ("a", "x"), (None, "m"), ("a", "x"), (None, "a"), ("B", "x"),
    (None, "m"), ("c", "alpha"), ("a", "x"), ("Zed", "z"), (None, "Blue"),
]  # fmt: skip


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = database_with(db_url, [(title, artist, None) for artist, title in TAGS])
    yield engine
    engine.dispose()


def walk(session: Session, *, q: str | None, limit: int) -> list[int]:
    ids: list[int] = []
    after = None
    while True:
        page = repo.list_songs_page(session, q=q, limit=limit, after=after)
        ids += [s.id for s in page]
        if len(page) < limit:
            return ids
        last = page[-1]
        after = repo.ListingKey(last.artist, last.title, last.id)


@pytest.mark.parametrize("limit", [1, 2, 5, 12, 50])
@pytest.mark.parametrize("q", [None, "x", "alp"])
def test_keyset_pages_equal_the_offset_listing(engine: Engine, limit: int, q: str | None) -> None:
    with Session(engine) as session:
        everything, total = repo.search_songs(session, q=q, limit=100, offset=0)
        assert [s.id for s in everything] == walk(session, q=q, limit=limit)
        assert repo.count_matching(session, q=q) == total == len(everything)
