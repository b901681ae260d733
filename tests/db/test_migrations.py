"""The schema exists only through Alembic, on SQLite and PostgreSQL, and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from db.models import Base
from db.session import create_db_engine, current_revision, downgrade, head_revision, upgrade


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
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()
