"""Re-ranking, explanations and seed songs through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from indexer.ingest.pipeline import index_paths
from tests.helpers import write_tags, write_tone

# (file, frequency, title, artist, album); "One (Remastered)" is a copy of "One"'s audio.
SONGS = [
    ("one.flac", 300, "One", "Ann", "First"),
    ("two.flac", 320, "Two", "Ann", "First"),
    ("three.flac", 340, "Three", "Ann", "Second"),
    ("four.flac", 600, "Four", "Bob", "Third"),
    ("five.flac", 900, "Five", "Cy", "Fourth"),
]


@pytest.fixture
def tagged(app: Flask, tmp_path: Path) -> FlaskClient:
    root = tmp_path / "music"
    for name, freq, title, artist, album in SONGS:
        path = write_tone(root / name, freq_hz=freq, seconds=2.0)
        write_tags(path, title=title, artist=artist, album=album)
    copy = root / "one-remastered.flac"
    shutil.copy(root / "one.flac", copy)
    write_tags(copy, title="One (Remastered)", artist="Ann", album="Best Of")
    index_paths(app.extensions["soundalike"].library, sorted(root.glob("*.flac")), root=root)
    return app.test_client()


def _ids(client: FlaskClient) -> dict[str, int]:
    items = client.get("/api/songs?limit=100").get_json()["items"]
    return {s["title"]: s["id"] for s in items}


def _similar(client: FlaskClient, song_id: int, query: str = "") -> dict:
    response = client.get(f"/api/songs/{song_id}/similar?k=5&{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_artist_cap_keeps_one_song_per_artist(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    plain = _similar(tagged, ids["Five"])
    artists = [n["artist"] for n in plain["neighbours"]]
    assert artists.count("Ann") == 4
    capped = _similar(tagged, ids["Five"], "max_per_artist=1&explain_drops=true")
    assert [n["artist"] for n in capped["neighbours"]].count("Ann") == 1
    assert len(capped["neighbours"]) == 2
    assert {d["reason"] for d in capped["dropped"]} == {"artist_cap"}
    assert len(capped["dropped"]) == 3
    assert "dropped" not in plain


def test_album_cap(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    body = _similar(tagged, ids["Five"], "max_per_album=1")
    albums = [n["album"] for n in body["neighbours"]]
    assert len(albums) == len(set(albums)) == 4  # One and Two share "First"


def test_near_duplicate_of_the_query_is_suppressed(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    plain = _similar(tagged, ids["One"])
    assert plain["neighbours"][0]["id"] == ids["One (Remastered)"]
    assert plain["neighbours"][0]["score"] == pytest.approx(1.0, abs=1e-6)
    body = _similar(tagged, ids["One"], "dedupe=true&explain_drops=true")
    assert ids["One (Remastered)"] not in [n["id"] for n in body["neighbours"]]
    assert body["dropped"][0]["id"] == ids["One (Remastered)"]
    assert body["dropped"][0]["reason"] == "duplicate"


def test_explanations_sum_to_the_score(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    body = _similar(tagged, ids["Two"], "explain=true")
    assert body["neighbours"]
    for neighbour in body["neighbours"]:
        why = neighbour["explanation"]
        assert set(why["parts"]) == {"timbre", "spectral_shape", "rhythm", "harmony", "loudness"}
        assert sum(why["parts"].values()) == pytest.approx(why["cosine"], abs=1e-9)
        assert why["cosine"] == pytest.approx(neighbour["score"], abs=1e-5)
        assert "tempo" in why["summary"]
    assert "explanation" not in _similar(tagged, ids["Two"])["neighbours"][0]


def test_mmr_with_lambda_one_equals_plain_ranking(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    plain = _similar(tagged, ids["Three"])["neighbours"]
    same = _similar(tagged, ids["Three"], "mmr_lambda=1")["neighbours"]
    assert [n["id"] for n in same] == [n["id"] for n in plain]
    diverse = _similar(tagged, ids["Three"], "mmr_lambda=0.2")["neighbours"]
    assert sorted(n["id"] for n in diverse) == sorted(n["id"] for n in plain)


def test_filters(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    plain = _similar(tagged, ids["One"])["neighbours"]
    excluded = _similar(tagged, ids["One"], f"exclude={ids['Two']}&exclude={ids['Four']}")
    assert [n["id"] for n in excluded["neighbours"]] == [
        n["id"] for n in plain if n["id"] not in (ids["Two"], ids["Four"])
    ]
    assert _similar(tagged, ids["One"], "duration_min_s=10")["neighbours"] == []
    assert len(_similar(tagged, ids["One"], "duration_max_s=10")["neighbours"]) == 5
    empty = _similar(tagged, ids["One"], "tempo_min_bpm=150&tempo_max_bpm=100")
    assert empty["neighbours"] == []
    hubs = _similar(tagged, ids["One"], "hubness=true")["neighbours"]
    assert sorted(n["id"] for n in hubs) == sorted(n["id"] for n in plain)


def test_upload_takes_the_same_parameters(tagged: FlaskClient, tmp_path: Path) -> None:
    path = write_tone(tmp_path / "clip.wav", freq_hz=300, seconds=2.0)
    with path.open("rb") as handle:
        response = tagged.post(
            "/api/similar?k=3&max_per_artist=1&explain=true",
            data={"file": (handle, "clip.wav")},
        )
    body = response.get_json()
    assert response.status_code == 200, body
    assert [n["artist"] for n in body["neighbours"]].count("Ann") == 1
    for neighbour in body["neighbours"]:
        parts = neighbour["explanation"]["parts"]
        assert sum(parts.values()) == pytest.approx(neighbour["explanation"]["cosine"], abs=1e-9)


def test_seeds_centroid_and_union(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    url = f"/api/similar?seed={ids['One']}&seed={ids['Four']}&k=10"
    body = tagged.get(url).get_json()
    assert [s["id"] for s in body["seeds"]] == [ids["One"], ids["Four"]]
    found = [n["id"] for n in body["neighbours"]]
    assert ids["One"] not in found
    assert ids["Four"] not in found
    assert len(found) == 4
    away = tagged.get(f"{url}&not={ids['Five']}&dedupe=true").get_json()
    assert ids["Five"] not in [n["id"] for n in away["neighbours"]]
    assert ids["One (Remastered)"] not in [n["id"] for n in away["neighbours"]]
    union = tagged.get(f"{url.replace('k=10', 'k=2')}&mode=union&explain=true").get_json()
    assert union["mode"] == "union"
    # One place per seed: One's nearest is its copy, then Four's nearest that is not a seed.
    four = [n["id"] for n in _similar(tagged, ids["Four"])["neighbours"]]
    four = [i for i in four if i not in (ids["One"], ids["One (Remastered)"])]
    first, second = union["neighbours"]
    assert first["id"] == ids["One (Remastered)"]
    assert first["explanation"]["seed"] == ids["One"]
    assert second["id"] == four[0]
    assert second["explanation"]["seed"] in (ids["One"], ids["Four"])


@pytest.mark.parametrize(
    "url",
    [
        "/api/songs/1/similar?max_per_artist=0",
        "/api/songs/1/similar?max_per_album=x",
        "/api/songs/1/similar?mmr_lambda=2",
        "/api/songs/1/similar?mmr_lambda=abc",
        "/api/songs/1/similar?tempo_min_bpm=nan",
        "/api/songs/1/similar?duration_max_s=-1",
        "/api/songs/1/similar?dedupe=maybe",
        "/api/songs/1/similar?explain=2",
        "/api/songs/1/similar?exclude=x",
        "/api/similar",
        "/api/similar?seed=a",
        "/api/similar?seed=1&mode=mean",
        "/api/similar?seed=1&not_weight=3",
        "/api/similar?seed=1&not=-2",
    ],
)
def test_malformed_parameters_are_400(tagged: FlaskClient, url: str) -> None:
    response = tagged.get(url)
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"error", "message"}
    assert body["error"] == "bad_parameter"


def test_negatives_that_cancel_the_seeds_leave_nothing_to_search(tagged: FlaskClient) -> None:
    one = _ids(tagged)["One"]
    for mode in ("centroid", "union"):
        url = f"/api/similar?seed={one}&not={one}&not_weight=1&mode={mode}"
        response = tagged.get(url)
        assert response.status_code == 200
        assert response.get_json()["neighbours"] == []


def test_unknown_seed_is_404(tagged: FlaskClient) -> None:
    for url in ("/api/similar?seed=99999", "/api/similar?seed=1&not=99999999999"):
        response = tagged.get(url)
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"
