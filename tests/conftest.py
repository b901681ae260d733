"""Shared fixtures: a library on SQLite and on the real PostgreSQL, the app, a CLI runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from indexer.library import Library
from indexer.model.genre_training import ensure_genre_model
from indexer.model.scaler import ensure_scaler
from indexer.settings import Settings
from tests.helpers import create_pg_database, drop_pg_database, make_settings


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scaler and genre model, fitted once per test run and copied into each data dir."""
    model_dir = tmp_path_factory.mktemp("model")
    ensure_scaler(model_dir)
    ensure_genre_model(model_dir)
    return model_dir


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'soundalike.db'}"
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def settings(tmp_path: Path, db_url: str, trained_model_dir: Path) -> Settings:
    """Settings for an empty library in ``tmp_path`` on both databases."""
    return make_settings(tmp_path / "data", db_url, trained_model_dir, workers=1)


@pytest.fixture
def library(settings: Settings) -> Iterator[Library]:
    """An empty library on both databases."""
    lib = Library(settings)
    yield lib
    lib.engine.dispose()


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """The service over an empty library, with an admin token."""
    from service import create_app

    application = create_app(
        {
            "data_dir": settings.data_dir,
            "database_url": settings.database_url,
            "admin_token": "s3cret",
            "max_upload_bytes": 5 * 1024 * 1024,
        }
    )
    application.config["TESTING"] = True
    yield application
    application.extensions["soundalike"].library.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of :func:`app`."""
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    """A click runner for the ``soundalike`` commands."""
    return CliRunner()
