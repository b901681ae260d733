"""The page's overview endpoints (genre counts, indexing status, 2-D map) on both databases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from indexer.ingest.pipeline import index_paths
from service import library
from service.library import project_2d, sample_ids
from tests.helpers import write_tone

AUTH = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def filled(app: Flask, tmp_path: Path) -> Flask:
    music = tmp_path / "music"
    for freq in (200, 300, 400, 2000):
        write_tone(music / f"tone{freq}.wav", freq_hz=freq, seconds=2.0)
    index_paths(app.extensions["soundalike"].library, sorted(music.glob("*.wav")), root=music)
    return app


def test_stats_on_an_empty_library(client: FlaskClient) -> None:
    body = client.get("/api/library/stats").get_json()
    assert body["songs"] == 0
    assert body["indexed"] == 0
    assert body["genres"] == []
    assert body["max_upload_bytes"] == 5 * 1024 * 1024


def test_map_on_an_empty_library(client: FlaskClient) -> None:
    body = client.get("/api/library/map").get_json()
    assert body["points"] == []
    assert body["method"] == "pca"
    assert body["songs"] == 0
    assert body["sampled"] is False


def test_genre_counts_and_map_follow_the_library(filled: Flask) -> None:
    client = filled.test_client()
    body = client.get("/api/library/stats").get_json()
    assert body["songs"] == body["indexed"] == 4
    assert sum(g["count"] for g in body["genres"]) == 4
    counts = [g["count"] for g in body["genres"]]
    assert counts == sorted(counts, reverse=True)
    labels = {s["genre"]["label"] for s in client.get("/api/songs").get_json()["items"]}
    assert {g["label"] for g in body["genres"]} == labels
    assert body["index_generation"] >= 1
    assert body["synced_at"]

    # One indexed library serves both checks: indexing is the slow part.
    body = client.get("/api/library/map").get_json()
    points = body["points"]
    songs = client.get("/api/songs").get_json()["items"]
    assert sorted(p["id"] for p in points) == sorted(s["id"] for s in songs)
    assert (body["songs"], body["sampled"]) == (4, False)
    assert all(-1 <= p["x"] <= 1 and -1 <= p["y"] <= 1 for p in points)
    assert max(max(abs(p["x"]), abs(p["y"])) for p in points) == pytest.approx(1)
    assert 0 < sum(body["explained_variance"]) <= 1
    by_id = {s["id"]: s for s in songs}
    assert all(p["title"] == by_id[p["id"]]["title"] for p in points)
    assert all(p["genre"] == by_id[p["id"]]["genre"]["label"] for p in points)

    gone = points[0]["id"]
    assert client.delete(f"/api/songs/{gone}", headers=AUTH).status_code == 200
    after = client.get("/api/library/map").get_json()
    assert after["index_generation"] > body["index_generation"]
    assert gone not in {p["id"] for p in after["points"]}
    assert len(after["points"]) == 3


@pytest.mark.parametrize(
    ("vectors", "expected"),
    [
        (np.zeros((0, 3)), np.zeros((0, 2))),
        (np.array([[1.0, 0.0, 0.0]]), np.zeros((1, 2))),
        # Two points: one axis separates them, the second has nothing left to show.
        (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([[-1.0, 0.0], [1.0, 0.0]])),
    ],
)
def test_projection_of_tiny_libraries(vectors: np.ndarray, expected: np.ndarray) -> None:
    xy, explained = project_2d(vectors)
    assert xy.shape == expected.shape
    np.testing.assert_allclose(np.abs(xy), np.abs(expected), atol=1e-12)
    assert len(explained) == 2


def test_projection_keeps_the_main_spread() -> None:
    # Points along a line in 3-D land on the first axis in the same order.
    t = np.linspace(-1, 1, 7)
    vectors = np.stack([t, 2 * t, np.zeros_like(t)], axis=1)
    xy, explained = project_2d(vectors)
    assert explained[0] == pytest.approx(1)
    np.testing.assert_allclose(xy[:, 1], 0, atol=1e-12)
    order = np.argsort(xy[:, 0])
    assert list(order) in (list(range(7)), list(range(6, -1, -1)))


def test_sample_ids_is_even_and_keeps_the_ends() -> None:
    ids = np.arange(1, 1_000_001, dtype=np.int64)
    sample = sample_ids(ids, 5000)
    assert len(sample) == len(set(sample.tolist())) == 5000
    assert (sample[0], sample[-1]) == (1, 1_000_000)
    assert np.ptp(np.diff(sample)) <= 1
    small = np.array([3, 5, 8])
    assert sample_ids(small, 5000) is small


def test_a_large_library_maps_a_stable_sample(
    filled: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(library, "MAP_POINTS", 3)
    client = filled.test_client()
    first = client.get("/api/library/map").get_json()
    assert (first["songs"], first["sampled"], len(first["points"])) == (4, True, 3)
    again = client.get("/api/library/map").get_json()
    assert [p["id"] for p in again["points"]] == [p["id"] for p in first["points"]]
