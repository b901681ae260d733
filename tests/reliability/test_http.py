"""Limits, timeouts, error shapes and who may read what, through the test client."""

from __future__ import annotations

import ast
import dataclasses
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from indexer.ingest.pipeline import index_paths
from tests.helpers import ROOT, make_settings, multipart, write_tone
from tests.reliability.conftest import AUTH


@pytest.fixture
def client(filled_app: Flask) -> FlaskClient:
    return filled_app.test_client()


@pytest.fixture
def tuned(filled_app: Flask) -> Iterator[Callable[..., None]]:
    """Change the service's settings for one test, then put them back."""
    st = filled_app.extensions["soundalike"]
    original = st.settings

    def tune(**changes: object) -> None:
        st.settings = dataclasses.replace(original, **changes)

    yield tune
    st.settings = original


def first_song(client: FlaskClient) -> dict:
    return client.get("/api/songs?limit=1").get_json()["items"][0]


def assert_json_error(response: TestResponse, status: int) -> dict:
    assert response.status_code == status, response.data[:200]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "message"}
    assert "Traceback" not in body["message"]
    return body


def test_uploads_longer_than_the_limit_get_413(
    client: FlaskClient, tuned: Callable[..., None], tmp_path: Path
) -> None:
    tuned(max_upload_duration_s=1.0)
    body, headers = multipart(write_tone(tmp_path / "long.wav", seconds=2.0))
    response = client.post("/api/similar", data=body, headers=headers)
    assert assert_json_error(response, 413)["error"] == "too_long"


def test_slow_upload_analysis_times_out_with_504(
    client: FlaskClient, tuned: Callable[..., None], tmp_path: Path
) -> None:
    tuned(upload_timeout_s=0.001)
    body, headers = multipart(write_tone(tmp_path / "clip.wav", seconds=1.0))
    response = client.post("/api/similar", data=body, headers=headers)
    assert assert_json_error(response, 504)["error"] == "analysis_timeout"


def test_an_unexpected_error_is_a_json_500_without_internals(
    tmp_path: Path, trained_model_dir: Path
) -> None:
    from service import create_app

    settings = make_settings(tmp_path / "data", "", trained_model_dir)
    app = create_app({"data_dir": settings.data_dir})

    @app.get("/api/boom-for-test")
    def boom() -> NoReturn:
        raise RuntimeError("secret internals /etc/passwd")

    response = app.test_client().get("/api/boom-for-test")
    body = assert_json_error(response, 500)
    assert "secret" not in body["message"]
    assert b"RuntimeError" not in response.data
    app.extensions["soundalike"].library.close()


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/api/no-such-route", 404),
        ("get", "/no-such-page", 404),
        ("put", "/api/songs", 405),
        ("patch", "/api/songs/1", 405),
        ("post", "/api/health", 405),
        ("get", "/api/songs/-1", 404),
        ("get", "/api/songs/99999999999999999999999", 404),
        ("get", "/api/songs/1.5/similar", 404),
        ("get", "/api/songs?q=a%00b", 400),
    ],
)
def test_routing_errors_are_json(client: FlaskClient, method: str, url: str, status: int) -> None:
    assert_json_error(getattr(client, method)(url), status)


@pytest.mark.parametrize(
    "url",
    [
        "/api/songs/../../../../etc/passwd/audio",
        "/api/songs/..%2f..%2f..%2fetc%2fpasswd/audio",
        "/api/songs/%2e%2e/%2e%2e/etc/passwd/audio",
        "/api/songs/%252e%252e%252fetc%252fpasswd/audio",
        "/api/songs//etc/passwd/audio",
        "/api/songs/%2Fetc%2Fpasswd/audio",
        "/api/songs/1%00/audio",
        "/static/../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_audio_cannot_be_fetched_by_path(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert b"root:" not in response.data


def test_a_path_parameter_is_ignored(client: FlaskClient) -> None:
    song = first_song(client)
    with client.get(f"{song['audio_url']}?path=/etc/passwd&file=../../etc/passwd") as response:
        assert response.status_code == 200
        assert response.data.startswith(b"RIFF")


def test_symlinks_out_of_the_library_are_not_served(filled_app: Flask, tmp_path: Path) -> None:
    library = filled_app.extensions["soundalike"].library
    client = filled_app.test_client()
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:secret\n" * 100)
    music = tmp_path / "linked"
    music.mkdir()
    (music / "passwd.wav").symlink_to(secret)
    tone = write_tone(tmp_path / "outside" / "real.wav", freq_hz=550, seconds=1.5)
    (music / "song.wav").symlink_to(tone)
    report = index_paths(library, sorted(music.iterdir()), root=music)
    assert [Path(s.path).name for s in report.skipped] == ["passwd.wav"]
    song = client.get("/api/songs?q=song&limit=500").get_json()["items"]
    song_id = next(s["id"] for s in song if s["filename"] == "song.wav")
    with client.get(f"/api/songs/{song_id}/audio") as response:
        assert response.status_code == 200
    # Swap the indexed link for one to the secret: the service refuses to follow it.
    (music / "song.wav").unlink()
    (music / "song.wav").symlink_to(secret)
    response = client.get(f"/api/songs/{song_id}/audio")
    assert_json_error(response, 404)
    assert b"root:" not in response.data
    assert client.delete(f"/api/songs/{song_id}", headers=AUTH).status_code == 200


def test_a_pickle_upload_is_not_unpickled(client: FlaskClient, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(str(marker)))
    for name in ("model.pkl", "index.faiss", "clip.wav", "scaler.json"):
        body, headers = multipart(data=payload, filename=name)
        assert_json_error(client.post("/api/similar", data=body, headers=headers), 400)
    assert not marker.exists()


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return (os.mkdir, (self.path,))


def test_no_code_path_unpickles_or_loads_from_client_paths() -> None:
    """Model and index files come from the data dir in formats that cannot run code."""
    forbidden = {"pickle", "joblib", "dill", "cloudpickle", "shelve", "marshal"}
    for package in ("indexer", "service", "db"):
        for source in (ROOT / package).rglob("*.py"):
            tree = ast.parse(source.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom):
                    names = {(node.module or "").split(".")[0]}
                else:
                    continue
                assert not names & forbidden, f"{source} imports {names & forbidden}"
                if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                    raise AssertionError(f"{source} allows pickles")
