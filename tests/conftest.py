"""Shared fixtures: a library on SQLite and on the real PostgreSQL, the app, a CLI runner."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
import pytest
import soundfile as sf
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from indexer.library import Library
from indexer.model.genre_training import ensure_genre_model
from indexer.model.scaler import ensure_scaler
from indexer.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEMO_LIBRARY = ROOT / "demo" / "library"
TEST_DATA = Path(__file__).resolve().parent / "data"

# The machine's PostgreSQL (trust auth); each test gets a database of its own on it.
PG_ADMIN_URL = os.environ.get(
    "SOUNDALIKE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scaler and genre model, fitted once per test run and copied into each data dir."""
    model_dir = tmp_path_factory.mktemp("model")
    ensure_scaler(model_dir)
    ensure_genre_model(model_dir)
    return model_dir


def create_pg_database() -> str:
    """A new, empty database on the test PostgreSQL server; its SQLAlchemy URL."""
    name = f"soundalike_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_dsn(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop a database made by :func:`create_pg_database`, closing its connections."""
    name = make_url(url).database
    with psycopg.connect(_pg_dsn(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'soundalike.db'}"
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def make_settings(data_dir: Path, db_url: str, trained_model_dir: Path, **extra) -> Settings:
    """Settings for a test library, with the session's trained model already in place."""
    shutil.copytree(trained_model_dir, data_dir / "model", dirs_exist_ok=True)
    return load_settings(
        environ={}, overrides={"data_dir": data_dir, "database_url": db_url, **extra}
    )


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


def write_tone(
    path: Path, *, freq_hz: float = 440.0, seconds: float = 3.0, sr: int = 22050, **kwargs
) -> Path:
    """Write a sine tone with a little noise (so features are not degenerate)."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(int(freq_hz))
    y = 0.5 * np.sin(2 * np.pi * freq_hz * t) + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), sr, **kwargs)
    return path


def multipart(
    path: Path | None = None, *, data: bytes = b"", filename: str = ""
) -> tuple[bytes, dict]:
    """A multipart body with one ``file`` field built in memory (a file's bytes, or ``data``)."""
    boundary = uuid.uuid4().hex
    if path is not None:
        data, filename = path.read_bytes(), filename or path.name
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


CLI = [sys.executable, "-m", "indexer.cli"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    env: dict[str, str], log_path: Path, *, workers: int = 2, args: Sequence[str] = ()
) -> tuple:
    """Start ``soundalike serve`` on a free loopback port; (process, base URL) once it answers."""
    port = free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--workers", str(workers), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    # Generous: the first request loads the model and index, and the machine may be busy.
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=30):
                return server, base
        except OSError:  # refused, reset or timed out while the server starts
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                server.wait(timeout=30)
                pytest.fail(f"server did not start:\n{log_path.read_text()}")
            time.sleep(0.2)


@contextmanager
def serving(
    env: dict[str, str], log_path: Path, *, workers: int = 2, args: Sequence[str] = ()
) -> Iterator[str]:
    """A running ``soundalike serve`` for the block; yields its base URL, then stops it."""
    server, base = start_server(env, log_path, workers=workers, args=args)
    try:
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
