"""POST /api/playlists through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flask import Flask

from indexer.walks.playlist import build_playlist
from tests.indexer.walks.gtzan_library import fill_gtzan_library


@pytest.fixture
def filled(app: Flask, tmp_path: Path) -> list[int]:
    return fill_gtzan_library(app.extensions["soundalike"].library, tmp_path / "music")


def test_playlist_as_json(app: Flask, filled: list[int]) -> None:
    seeds = [filled[0], filled[1]]
    with app.test_client() as client:
        response = client.post(
            "/api/playlists", json={"seeds": seeds, "length": 12, "max_per_artist": 4}
        )
    assert response.status_code == 200
    body = response.get_json()
    ids = [song["id"] for song in body["songs"]]
    assert ids[:2] == seeds
    assert len(ids) == 12 == len(set(ids))
    assert [song["seed"] for song in body["songs"]] == [True, True] + [False] * 10
    artists = [song["artist"] for song in body["songs"]]
    assert max(artists.count(a) for a in artists) <= 4
    # The same walk as the command line's, in the space the answer names (these table rows
    # have no audio, so no sound vectors: features).
    library = app.extensions["soundalike"].library
    assert body["space"] == library.answering_space(None, seeds=seeds) == "features"
    walk = build_playlist(library, seeds, length=12, max_per_artist=4, space=body["space"])
    assert ids == [entry.song.id for entry in walk.entries]
    assert body["songs"][2]["audio_url"] == f"/api/songs/{ids[2]}/audio"
    assert body["smoothness"] == pytest.approx(walk.smoothness, abs=1e-5)
    assert (body["length"], body["max_per_artist"], body["not"]) == (12, 4, [])


def test_playlist_steers_away_from_not(app: Flask, filled: list[int]) -> None:
    library = app.extensions["soundalike"].library
    space = library.answering_space(None, seeds=filled)
    index, _ = library.load_index(space=space)
    songs = library.get_songs(filled)
    found = library.song_vectors([songs[i] for i in filled], index, space=space)
    vectors = dict(zip(filled, found, strict=True))
    seed = filled[0]
    with app.test_client() as client:
        plain = client.post("/api/playlists", json={"seeds": [seed], "length": 8}).get_json()
        ids = [song["id"] for song in plain["songs"]]
        avoid = ids[1:3]
        steered = client.post(
            "/api/playlists", json={"seeds": [seed], "length": 8, "not": avoid}
        ).get_json()
    new = [song["id"] for song in steered["songs"]]
    assert not set(avoid) & set(new)
    assert steered["not"] == avoid

    def nearness(chosen: list[int]) -> float:
        return float(np.mean([[vectors[i] @ vectors[j] for j in avoid] for i in chosen]))

    assert nearness(new[1:]) < nearness([i for i in ids[1:] if i not in avoid])


@pytest.mark.parametrize(
    ("how", "accept"),
    [("?format=m3u8", None), ("", "audio/x-mpegurl"), ("", "application/vnd.apple.mpegurl")],
)
def test_playlist_as_m3u8(app: Flask, filled: list[int], how: str, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    with app.test_client() as client:
        response = client.post(
            f"/api/playlists{how}", json={"seeds": [filled[5]], "length": 4}, headers=headers
        )
        as_json = client.post("/api/playlists", json={"seeds": [filled[5]], "length": 4}).get_json()
    assert response.status_code == 200
    assert response.mimetype == "audio/x-mpegurl"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "#EXTM3U"
    expected = [f"http://localhost/api/songs/{s['id']}/audio" for s in as_json["songs"]]
    assert lines[2::2] == expected
    first = as_json["songs"][0]
    assert lines[1] == f"#EXTINF:{round(first['duration_s'])},{first['artist']} - {first['title']}"


@pytest.mark.parametrize(
    ("body", "query", "status", "error"),
    [
        ({}, "", 400, "bad_body"),
        ({"seeds": []}, "", 400, "bad_body"),
        ({"seeds": ["x"]}, "", 400, "bad_body"),
        ({"seeds": [1], "length": 0}, "", 400, "bad_body"),
        ({"seeds": [1], "length": 501}, "", 400, "bad_body"),
        ({"seeds": [1], "max_per_artist": 0}, "", 400, "bad_body"),
        ({"seeds": [1], "not_weight": 2}, "", 400, "bad_body"),
        ({"seeds": list(range(1, 102))}, "", 400, "bad_body"),
        ({"seeds": [1]}, "?format=xml", 400, "bad_parameter"),
        ({"seeds": [10**6]}, "", 404, "not_found"),
        ({"seeds": [1], "not": [10**6]}, "", 404, "not_found"),
        ({"seeds": [2**40]}, "", 404, "not_found"),
    ],
)
def test_playlist_errors(
    app: Flask, filled: list[int], body: dict, query: str, status: int, error: str
) -> None:
    with app.test_client() as client:
        response = client.post(f"/api/playlists{query}", json=body)
    assert response.status_code == status
    assert set(response.get_json()) == {"error", "message"}
    assert response.get_json()["error"] == error


def test_playlist_refuses_a_body_that_is_not_json(app: Flask) -> None:
    with app.test_client() as client:
        response = client.post(
            "/api/playlists", data="seeds=1", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_body"


def test_playlist_route_is_documented(app: Flask) -> None:
    with app.test_client() as client:
        document = client.get("/api/openapi.json").get_json()
    route = document["paths"]["/api/playlists"]["post"]
    assert set(route["responses"]["200"]["content"]) == {"application/json", "audio/x-mpegurl"}
    assert "security" not in route
    body = document["components"]["schemas"]["PlaylistRequest"]
    assert body["required"] == ["seeds"]
    assert body["properties"]["length"]["maximum"] == 500
