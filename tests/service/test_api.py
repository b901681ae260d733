"""The JSON API through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from indexer.ingest.pipeline import index_paths
from tests.helpers import multipart, write_tone

AUTH = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    for freq in (200, 300, 400, 500, 600):
        write_tone(root / f"tone{freq}.wav", freq_hz=freq, seconds=2.0)
    return root


@pytest.fixture
def filled(app: Flask, music: Path) -> Flask:
    library = app.extensions["soundalike"].library
    index_paths(library, sorted(music.glob("*.wav")), root=music)
    return app


def test_health_on_an_empty_library(client: FlaskClient) -> None:
    body = client.get("/api/health").get_json()
    assert body["status"] == "ok"
    assert body["songs"] == 0
    assert body["indexed"] == 0


def test_list_search_and_paginate(filled: Flask) -> None:
    client = filled.test_client()
    page = client.get("/api/songs?limit=2&offset=1").get_json()
    assert page["total"] == 5
    assert len(page["items"]) == 2
    assert {"id", "title", "genre", "duration_s"} <= set(page["items"][0])
    assert "path" not in page["items"][0]
    found = client.get("/api/songs?q=TONE3").get_json()
    assert [s["title"] for s in found["items"]] == ["tone300"]
    assert client.get("/api/songs?q=%25").get_json()["total"] == 0


def test_cursor_pages_walk_the_same_listing_as_offsets(filled: Flask) -> None:
    client = filled.test_client()
    everything = client.get("/api/songs?limit=100").get_json()
    assert everything["next_cursor"] is None  # fewer songs than the limit: no next page
    walked, url = [], "/api/songs?limit=2&cursor="
    while True:
        page = client.get(url).get_json()
        assert page["total"] == 5
        walked += [s["id"] for s in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/api/songs?limit=2&cursor={page['next_cursor']}"
    assert walked == [s["id"] for s in everything["items"]]


def test_song_and_its_neighbours(filled: Flask) -> None:
    client = filled.test_client()
    first = client.get("/api/songs?limit=1").get_json()["items"][0]
    song = client.get(f"/api/songs/{first['id']}").get_json()
    assert song["genre"]["label"]
    assert 0 < song["genre"]["confidence"] <= 1
    assert len(song["genre"]["probabilities"]) == 10
    body = client.get(f"/api/songs/{first['id']}/similar?k=3").get_json()
    assert body["song"]["id"] == first["id"]
    neighbours = body["neighbours"]
    assert len(neighbours) == 3
    assert first["id"] not in [n["id"] for n in neighbours]
    assert [n["score"] for n in neighbours] == sorted(
        (n["score"] for n in neighbours), reverse=True
    )
    assert set(neighbours[0]) == {"id", "title", "artist", "album", "score", "genre", "tags"}
    assert set(neighbours[0]["genre"]) == {"label", "confidence", "probability", "top"}
    top = song["genre"]["top"]
    assert len(top) == 3
    assert top[0]["probability"] == song["genre"]["probability"] == song["genre"]["confidence"]
    assert [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)


def test_similar_keeps_one_genre(filled: Flask) -> None:
    client = filled.test_client()
    songs = client.get("/api/songs").get_json()["items"]
    first, genre = songs[0]["id"], songs[1]["genre"]["label"]
    wanted = sum(s["genre"]["label"] == genre for s in songs[1:])
    body = client.get(f"/api/songs/{first}/similar?k=10&genre={genre}").get_json()
    assert len(body["neighbours"]) == wanted
    assert {n["genre"]["label"] for n in body["neighbours"]} == {genre}
    response = client.get(f"/api/songs/{first}/similar?genre=polka")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_parameter"


def test_model_reports_version_and_scores(filled: Flask) -> None:
    body = filled.test_client().get("/api/model").get_json()
    assert body["version"].startswith("xgb-")
    assert len(body["classes"]) == 10
    assert set(body["scores"]) == {"artist_filter", "stratified_kfold"}
    assert 0.4 < body["scores"]["artist_filter"]["accuracy_mean"] < 0.7
    # The features space's metric: the log-variance standardization (LDA is opt-in).
    assert body["metric"]["kind"] == "standardized"
    assert body["temperature"] > 0


@pytest.mark.parametrize(
    ("url", "status", "error"),
    [
        ("/api/songs/999", 404, "not_found"),
        ("/api/songs/999/similar", 404, "not_found"),
        ("/api/songs/999/audio", 404, "not_found"),
        ("/api/songs?limit=abc", 400, "bad_parameter"),
        ("/api/songs?limit=0", 400, "bad_parameter"),
        ("/api/songs?offset=-1", 400, "bad_parameter"),
        ("/api/songs?cursor=not-a-cursor", 400, "bad_parameter"),
        ("/api/songs?cursor=WzEsMiwzXQ", 400, "bad_parameter"),  # [1,2,3]: wrong types
        ("/api/songs?cursor=WyJhIiwiYiIsMV0&offset=5", 400, "bad_parameter"),
        ("/api/songs/1/similar?k=1000", 400, "bad_parameter"),
        ("/api/songs/1/similar?k=two", 400, "bad_parameter"),
        ("/api/nothing-here", 404, "not_found"),
    ],
)
def test_errors_are_json(filled: Flask, url: str, status: int, error: str) -> None:
    response = filled.test_client().get(url)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert response.get_json()["message"]


def test_wrong_method_is_json(client: FlaskClient) -> None:
    response = client.put("/api/health")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


def test_upload_of_a_library_clip_finds_itself_first(filled: Flask, music: Path) -> None:
    data = {"file": (io.BytesIO((music / "tone400.wav").read_bytes()), "clip.wav")}
    response = filled.test_client().post("/api/similar?k=3", data=data)
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["neighbours"][0]["title"] == "tone400"
    assert body["neighbours"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert body["genre"]["label"]
    assert len(body["genre"]["probabilities"]) == 10
    assert len(body["genre"]["top"]) == 3


def test_upload_errors(client: FlaskClient) -> None:
    assert client.post("/api/similar").status_code == 400
    bad = {"file": (io.BytesIO(b"hello, not audio"), "x.mp3")}
    response = client.post("/api/similar", data=bad)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_audio"
    # Built in memory: werkzeug's own multipart encoder leaves a temporary file open.
    body, headers = multipart(data=b"\0" * (6 * 1024 * 1024), filename="big.wav")
    response = client.post("/api/similar", data=body, headers=headers)
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"


def test_audio_supports_range_requests(filled: Flask, music: Path) -> None:
    client = filled.test_client()
    song = client.get("/api/songs?q=tone200").get_json()["items"][0]
    # File responses hold the file open until closed, hence the with-blocks.
    with client.get(song["audio_url"]) as whole:
        assert whole.status_code == 200
        assert whole.data == (music / "tone200.wav").read_bytes()
    with client.get(song["audio_url"], headers={"Range": "bytes=10-19"}) as part:
        assert part.status_code == 206
        assert part.data == whole.data[10:20]


def test_writes_need_the_admin_token(filled: Flask, tmp_path: Path) -> None:
    client = filled.test_client()
    new = write_tone(tmp_path / "new" / "fresh.wav", freq_hz=700, seconds=2.0)
    body = {"paths": [str(new)]}
    assert client.post("/api/songs", json=body).status_code == 401
    wrong = client.post("/api/songs", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert client.post("/api/songs", json={"paths": "x"}, headers=AUTH).status_code == 400
    (tmp_path / "unmounted").mkdir()
    empty = client.post("/api/songs", json={"paths": [str(tmp_path / "unmounted")]}, headers=AUTH)
    assert empty.status_code == 400
    assert empty.get_json()["error"] == "bad_body"
    assert "no audio files found" in empty.get_json()["message"]
    added = client.post("/api/songs", json=body, headers=AUTH)
    assert added.status_code == 200
    assert added.get_json()["added"] == 1
    assert client.get("/api/health").get_json()["indexed"] == 6
    song_id = client.get("/api/songs?q=fresh").get_json()["items"][0]["id"]
    assert client.delete(f"/api/songs/{song_id}").status_code == 401
    assert client.delete(f"/api/songs/{song_id}", headers=AUTH).status_code == 200
    assert client.delete(f"/api/songs/{song_id}", headers=AUTH).status_code == 404
    assert client.get("/api/health").get_json()["indexed"] == 5


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_writes_are_off_without_a_token(settings, trained_model_dir) -> None:
    from service import create_app

    app = create_app({"data_dir": settings.data_dir, "database_url": settings.database_url})
    response = app.test_client().post("/api/songs", json={"paths": ["/x.wav"]})
    assert response.status_code == 403
    assert response.get_json()["error"] == "writes_disabled"


def test_page_is_served(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert b"Soundalike" in page.data
    with client.get("/static/app.js") as script:
        assert script.status_code == 200
