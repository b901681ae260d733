"""Fixtures for the reliability tests: a small library of short synthetic tones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from indexer.ingest.pipeline import index_paths
from tests.helpers import create_pg_database, drop_pg_database, make_settings, write_tones

ADMIN_TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database shared by one module's tests, on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'soundalike.db'}"
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="module")
def filled_app(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path
) -> Iterator[Flask]:
    """The service over three indexed tones; admin writes are on."""
    from service import create_app

    base = tmp_path_factory.mktemp("lib")
    settings = make_settings(base / "data", module_db_url, trained_model_dir, workers=1)
    app = create_app(
        {
            "data_dir": settings.data_dir,
            "database_url": settings.database_url,
            "admin_token": ADMIN_TOKEN,
            "max_upload_bytes": 2 * 1024 * 1024,
        }
    )
    app.config["TESTING"] = True
    library = app.extensions["soundalike"].library
    index_paths(library, write_tones(base / "music", [220, 330, 440]), root=base / "music")
    yield app
    library.engine.dispose()
