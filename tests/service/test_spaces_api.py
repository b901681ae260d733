"""The two vector spaces over HTTP and Subsonic, on SQLite and PostgreSQL: every neighbour route
says which space answered, takes ``space=``, and falls back to ``features`` while songs lack a
sound embedding; uploads get both from one decode.

The library is tests/helpers.py's `SPACE_SONGS`: by sound, song 0 is nearest to song 3; by its
features, to songs 1 and 2.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from db.models import Song
from indexer.library import Library
from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.scaler import refit_scaler
from tests.helpers import multipart, save_padded_sound_index, space_records, write_tone


def library_of(app: Flask) -> Library:
    return app.extensions["soundalike"].library


def fill(app: Flask, *, without: tuple[int, ...] = ()) -> list[int]:
    """The six songs; those at ``without`` as rows indexed before the network (no embedding,
    no version: awaiting `soundalike backfill`)."""
    library = library_of(app)
    ids = library.write_songs(space_records(without=without))
    if without:
        with library.write_session() as session, session.begin():
            session.execute(
                update(Song)
                .where(Song.id.in_([ids[i] for i in without]))
                .values(embedding_version=None)
            )
    library.sync_indexes()
    return ids


def get(client: FlaskClient, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def nearest(answer: dict) -> int:
    return answer["neighbours"][0]["id"]


def test_every_route_answers_in_the_space_asked(app: Flask, client: FlaskClient) -> None:
    ids = fill(app)
    default = get(client, f"/api/songs/{ids[0]}/similar?k=3")
    assert default["space"] == "sound"
    assert "space_note" not in default
    assert nearest(default) == ids[3]
    features = get(client, f"/api/songs/{ids[0]}/similar?k=3&space=features")
    assert features["space"] == "features"
    assert nearest(features) in {ids[1], ids[2]}
    # Re-ranking runs in the space asked for too: MMR keeps the nearest first.
    reranked = get(client, f"/api/songs/{ids[0]}/similar?k=3&space=sound&mmr_lambda=0.5")
    assert (reranked["space"], nearest(reranked)) == ("sound", ids[3])

    seeds = get(client, f"/api/similar?seed={ids[0]}&k=2")
    assert (seeds["space"], nearest(seeds)) == ("sound", ids[3])
    seeds = get(client, f"/api/similar?seed={ids[0]}&k=2&space=features&mmr_lambda=0.5")
    assert seeds["space"] == "features"
    assert nearest(seeds) in {ids[1], ids[2]}

    path = get(client, f"/api/path?from={ids[0]}&to={ids[5]}&steps=3")
    assert path["space"] == "sound"
    assert path["path"][0]["id"] == ids[0]
    assert get(client, f"/api/path?from={ids[0]}&to={ids[5]}&space=features")["space"] == (
        "features"
    )

    subsonic = get(client, f"/rest/getSonicSimilarTracks?id={ids[0]}&count=2&f=json")
    matches = subsonic["subsonic-response"]["sonicMatch"]
    assert matches[0]["entry"]["id"] == str(ids[3])


def test_duplicates_are_judged_by_the_vectors_of_the_space_asked(
    app: Flask, client: FlaskClient
) -> None:
    ids = fill(app)
    # Song 6 has song 0's features and duration but song 4's embedding: a near-duplicate of
    # song 0 by features (cosine 1), not by sound, which joins the embedding with the features
    # (cosine about 0.8).
    copy = replace(
        space_records(only=(0,))[0],
        path="/music/song6.wav",
        content_hash=f"{6:064x}",
        title="Song 6",
        artist="Artist 6",
        sound=space_records(only=(4,))[0].sound,
    )
    (copy_id,) = library_of(app).write_songs([copy])
    library_of(app).sync_indexes()
    query = f"/api/songs/{ids[0]}/similar?k=3&dedupe=1&explain_drops=1"
    by_features = get(client, f"{query}&space=features")
    assert [(d["id"], d["reason"]) for d in by_features["dropped"]] == [(copy_id, "duplicate")]
    by_sound = get(client, f"{query}&space=sound")
    assert copy_id not in {d["id"] for d in by_sound.get("dropped", [])}


def test_the_default_is_features_while_embeddings_are_missing(
    app: Flask, client: FlaskClient
) -> None:
    ids = fill(app, without=(4,))
    answer = get(client, f"/api/songs/{ids[0]}/similar?k=3")
    assert answer["space"] == "features"
    assert "1 song(s) have no sound embedding yet" in answer["space_note"]
    assert nearest(answer) in {ids[1], ids[2]}
    assert get(client, f"/api/similar?seed={ids[0]}")["space"] == "features"
    assert get(client, f"/api/path?from={ids[0]}&to={ids[5]}")["space"] == "features"
    subsonic = get(client, f"/rest/getSonicSimilarTracks?id={ids[0]}&count=1&f=json")
    assert subsonic["subsonic-response"]["sonicMatch"][0]["entry"]["id"] != str(ids[3])

    # Asked for explicitly, the sound space answers; the song without a vector is absent.
    sound = get(client, f"/api/songs/{ids[0]}/similar?k=10&space=sound")
    assert sound["space"] == "sound"
    assert "space_note" not in sound
    assert nearest(sound) == ids[3]
    assert ids[4] not in {n["id"] for n in sound["neighbours"]}
    missing = client.get(f"/api/songs/{ids[4]}/similar?space=sound")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "no_vector"


def test_songs_added_while_the_service_runs_join_every_space(
    app: Flask, client: FlaskClient
) -> None:
    library = library_of(app)
    first = library.write_songs(space_records(only=(0, 1, 2)))
    library.sync_indexes()
    assert len(get(client, f"/api/songs/{first[0]}/similar?k=10&space=sound")["neighbours"]) == 2
    # Another process (soundalike index) adds songs and syncs; the readers see the manifests.
    later = library.write_songs(space_records(only=(3, 4, 5)))
    library.sync_indexes()
    time.sleep(0.6)  # the readers look at the manifests at most every 0.5 s
    for space in ("sound", "features"):
        answer = get(client, f"/api/songs/{first[0]}/similar?k=10&space={space}")
        assert {n["id"] for n in answer["neighbours"]} >= set(later)
    assert nearest(get(client, f"/api/songs/{first[0]}/similar?k=1")) == later[0]


def upload(client: FlaskClient, path: Path, query: str = "") -> tuple[int, dict]:
    body, headers = multipart(path)
    response = client.post(f"/api/similar?k=3{query}", data=body, headers=headers)
    return response.status_code, response.get_json()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_upload_is_answered_in_either_space(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    fill(app)
    clip = write_tone(tmp_path / "clip.wav", freq_hz=440, seconds=4.0)
    status, answer = upload(client, clip)
    assert status == 200, answer
    assert answer["space"] == "sound"
    assert len(answer["neighbours"]) == 3
    status, answer = upload(client, clip, "&space=features")
    assert (status, answer["space"]) == (200, "features")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_upload_too_short_for_the_network(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    fill(app)
    clip = write_tone(tmp_path / "short.wav", freq_hz=440, seconds=2.0)
    status, answer = upload(client, clip, "&space=sound")
    assert status == 400
    assert answer["error"] == "too_short_for_sound"
    assert "shorter than one patch of the sound network" in answer["message"]
    status, answer = upload(client, clip)
    assert status == 200, answer
    assert answer["space"] == "features"
    assert "shorter than one patch" in answer["space_note"]
    assert len(answer["neighbours"]) == 3


def test_a_sound_index_of_464_d_padded_vectors_is_rebuilt_before_it_answers(
    app: Flask, client: FlaskClient
) -> None:
    ids = fill(app)
    library = library_of(app)
    old = save_padded_sound_index(library, ids)
    assert old.dim == 464
    answer = get(client, f"/api/songs/{ids[0]}/similar?k=3")
    assert (answer["space"], nearest(answer)) == ("sound", ids[3])
    index, manifest = app.extensions["soundalike"].index("sound")
    assert (manifest.dim, index.dim, manifest.generation) == (457, 457, old.generation + 1)


def test_an_index_made_with_a_scaler_refitted_elsewhere_is_adopted_not_rebuilt(
    app: Flask, client: FlaskClient
) -> None:
    ids = fill(app)
    library = library_of(app)
    get(client, f"/api/songs/{ids[0]}/similar?k=3&space=features")
    # What `soundalike train --table` does in another process: a new metric, indexes rebuilt.
    other = Library(library.settings)
    try:
        refit_scaler(other.settings.model_dir, load_table(bundled_table_path()), metric="lda")
        manifests = other.sync_indexes()
    finally:
        other.close()
    assert manifests["features"].dim == other.scaler.dim < 57

    app.extensions["soundalike"].refresh()  # as half a second later
    answer = get(client, f"/api/songs/{ids[0]}/similar?k=3&space=features")
    assert len(answer["neighbours"]) == 3
    _, manifest = app.extensions["soundalike"].index("features")
    assert manifest.generation == manifests["features"].generation
    assert library.scaler.version == other.scaler.version
