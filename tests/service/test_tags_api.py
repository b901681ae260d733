"""Tags through the HTTP API, on SQLite and PostgreSQL, from the real network's outputs.

Three 4-s clips the network hears differently (see tests/indexer/model/test_tags.py): a sine
it hears as a flute, a rising scale as electronic flute music, white noise as fast electronic
music; and a 2-s tone, too short for the network, which has no tags at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from indexer.ingest.pipeline import index_paths
from indexer.model.tags import TAG_THRESHOLD, TAG_VOCABULARY, top_tags
from tests.helpers import noise, sine, stepped_tone, write_audio, write_tags

CLIPS = {
    "Flute": lambda: sine(440.0, seconds=4.0),
    "Steps": lambda: stepped_tone([300.0, 600.0, 900.0, 1200.0], step_s=1.0),
    "Hiss": lambda: noise(seconds=4.0),
    "Short": lambda: sine(440.0, seconds=2.0),
}


@pytest.fixture
def tagged(app: Flask, tmp_path: Path) -> FlaskClient:
    root = tmp_path / "music"
    paths = []
    for title, make in CLIPS.items():
        path = write_audio(root / f"{title.lower()}.flac", make())
        write_tags(path, title=title, artist=title)
        paths.append(path)
    index_paths(app.extensions["soundalike"].library, paths, root=root)
    return app.test_client()


def _ids(client: FlaskClient) -> dict[str, int]:
    items = client.get("/api/songs?limit=100").get_json()["items"]
    return {s["title"]: s["id"] for s in items}


def _get(client: FlaskClient, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_songs_show_their_top_tags(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    flute = _get(tagged, f"/api/songs/{ids['Flute']}")["tags"]
    assert "flute" in [t["tag"] for t in flute]
    assert all(t["probability"] >= TAG_THRESHOLD for t in flute)
    assert _get(tagged, f"/api/songs/{ids['Short']}")["tags"] == []
    listing = {s["title"]: s["tags"] for s in _get(tagged, "/api/songs")["items"]}
    assert listing["Flute"] == flute
    assert listing["Short"] == []
    hiss = [t["tag"] for t in listing["Hiss"]]
    assert "electronic" in hiss
    assert "flute" not in hiss


def test_library_reads_and_the_vocabulary(app: Flask, tagged: FlaskClient) -> None:
    library = app.extensions["soundalike"].library
    ids = _ids(tagged)
    assert library.song_top_tags(ids["Short"]) == []
    assert library.song_top_tags(ids["Flute"]) == top_tags(
        library.get_song(ids["Flute"]).tag_vector
    )
    best = library.songs_matching_tags(["flute"], limit=10)
    assert len(best) == 3  # the short clip has no tags to match
    assert best[0][0] == ids["Flute"]
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)
    carrying = library.songs_matching_tags(["flute"], limit=10, carrying_all=True)
    assert {i for i, _ in carrying} == {ids["Flute"], ids["Steps"]}
    tagged_songs, counts = library.tag_counts()
    assert tagged_songs == 3
    assert counts["flute"] == 2
    assert set(counts) == set(TAG_VOCABULARY)
    body = _get(tagged, "/api/tags")
    assert body["threshold"] == TAG_THRESHOLD
    assert body["songs_with_tags"] == 3
    assert [t["tag"] for t in body["tags"]] == list(TAG_VOCABULARY)
    by_tag = {t["tag"]: t for t in body["tags"]}
    assert by_tag["flute"] == {
        "tag": "flute",
        "kind": "instrument",
        "models": ["MTT_musicnn"],
        "songs": 2,
    }
    assert by_tag["rock"]["models"] == ["MSD_musicnn", "MTT_musicnn"]
    assert by_tag["80s"]["kind"] == "era"
    assert set(body["kinds"]) == {t["kind"] for t in body["tags"]}


def test_tag_filter_keeps_neighbours_that_carry_every_tag(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    url = f"/api/songs/{ids['Short']}/similar?k=5"
    assert len(_get(tagged, url)["neighbours"]) == 3
    flute = _get(tagged, url + "&tag=flute")["neighbours"]
    assert {n["id"] for n in flute} == {ids["Flute"], ids["Steps"]}
    for neighbour in flute:
        assert "flute" in {t["tag"] for t in neighbour["tags"]}
    both = _get(tagged, url + "&tag=Flute&tag=electronic&explain_drops=true")
    assert [n["id"] for n in both["neighbours"]] == [ids["Steps"]]
    reasons = {d["id"]: d["reason"] for d in both["dropped"]}
    assert reasons == {ids["Flute"]: "tag", ids["Hiss"]: "tag"}
    same = _get(tagged, url + "&tag=flute,electronic")["neighbours"]
    assert [n["id"] for n in same] == [ids["Steps"]]


@pytest.mark.parametrize(
    "query",
    ["/api/songs/1/similar?tag=trumpet", "/api/similar?tags=chill,trumpet", "/api/similar?tag=x"],
)
def test_an_unknown_tag_says_where_the_known_ones_are(client: FlaskClient, query: str) -> None:
    response = client.get(query)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "bad_parameter"
    assert "/api/tags" in body["message"]


def test_seed_or_tags_is_required(client: FlaskClient) -> None:
    response = client.get("/api/similar?k=3")
    assert response.status_code == 400
    assert "seed" in response.get_json()["message"]


def test_a_tag_profile_seeds_a_neighbour_query(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    body = _get(tagged, "/api/similar?tags=flute&k=5")
    assert body["tags"] == ["flute"]
    assert [s["id"] for s in body["seeds"]] == [ids["Flute"], ids["Steps"]]
    # In the sound space, which answers: the clip too short for the network is not there.
    assert body["space"] == "sound"
    assert {n["id"] for n in body["neighbours"]} == {ids["Hiss"]}
    every = _get(tagged, "/api/similar?tags=flute&k=5&space=features")
    assert {n["id"] for n in every["neighbours"]} == {ids["Hiss"], ids["Short"]}
    both = _get(tagged, "/api/similar?tags=flute,electronic&k=5")
    assert [s["id"] for s in both["seeds"]] == [ids["Steps"]]
    # Nothing carries both: the one song that matches best starts the query.
    body = _get(tagged, "/api/similar?tags=flute,dance&k=5")
    assert len(body["seeds"]) == 1
    # Seeds and a profile together; a song steered away from is never a seed.
    mixed = _get(tagged, f"/api/similar?seed={ids['Hiss']}&tags=flute&not={ids['Flute']}")
    assert [s["id"] for s in mixed["seeds"]] == [ids["Hiss"], ids["Steps"]]


def test_explanations_name_shared_tags(tagged: FlaskClient) -> None:
    ids = _ids(tagged)
    # The features space holds every song, the too-short clip without tags included.
    body = _get(tagged, f"/api/songs/{ids['Flute']}/similar?k=5&explain=true&space=features")
    why = {n["id"]: n["explanation"] for n in body["neighbours"]}
    shared = why[ids["Steps"]]["shared_tags"]
    assert "flute" in shared
    assert why[ids["Steps"]]["summary"].startswith("both tagged " + ", ".join(shared))
    assert why[ids["Short"]]["shared_tags"] == []
    assert not why[ids["Short"]]["summary"].startswith("both tagged")
    seeds = _get(tagged, f"/api/similar?seed={ids['Flute']}&k=5&explain=true&space=features")
    by_id = {n["id"]: n["explanation"] for n in seeds["neighbours"]}
    assert by_id[ids["Steps"]]["shared_tags"] == shared


def test_an_empty_library_has_no_tags(client: FlaskClient) -> None:
    body = _get(client, "/api/tags")
    assert body["songs_with_tags"] == 0
    assert all(t["songs"] == 0 for t in body["tags"])
    response = client.get("/api/similar?tags=chill")
    assert response.status_code == 404
