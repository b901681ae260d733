"""GET /api/path through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from tests.indexer.walks.gtzan_library import fill_gtzan_library


@pytest.fixture
def filled(app: Flask, tmp_path: Path) -> list[int]:
    return fill_gtzan_library(app.extensions["soundalike"].library, tmp_path / "music")


def test_path_from_a_to_b(app: Flask, filled: list[int]) -> None:
    start, end = filled[0], filled[20]
    with app.test_client() as client:
        body = client.get(f"/api/path?from={start}&to={end}&steps=8").get_json()
    ids = [step["id"] for step in body["path"]]
    assert [ids[0], ids[-1]] == [start, end]
    assert len(ids) == len(set(ids))
    assert 2 < len(ids) <= 9
    goal = [step["similarity_to_goal"] for step in body["path"]]
    assert goal == sorted(goal)
    assert goal[-1] == pytest.approx(1.0)
    previous = [step["similarity_to_previous"] for step in body["path"]]
    assert previous[0] is None
    assert body["smoothness"] == pytest.approx(sum(previous[1:]) / len(previous[1:]), abs=1e-5)
    assert body["steps"] == 8
    assert body["direction"] is None
    assert set(body["path"][0]) == {
        "id", "title", "artist", "album", "duration_s", "tempo_bpm",
        "similarity_to_previous", "similarity_to_goal",
    }  # fmt: skip


def test_path_with_a_tempo_direction(app: Flask, filled: list[int]) -> None:
    # GTZAN's blues.00000 is at 123 BPM and the fifth jazz row at 65: falling works, rising not.
    start, end = filled[0], filled[20]
    with app.test_client() as client:
        body = client.get(f"/api/path?from={start}&to={end}&direction=tempo_falling").get_json()
        tempi = [step["tempo_bpm"] for step in body["path"]]
        assert tempi == sorted(tempi, reverse=True)
        assert body["direction"] == "tempo_falling"
        response = client.get(f"/api/path?from={start}&to={end}&direction=tempo_rising")
        assert response.status_code == 404
        assert response.get_json()["error"] == "unreachable"
        assert "rising tempo" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("to=1", 400, "bad_parameter"),
        ("from=1", 400, "bad_parameter"),
        ("from=x&to=1", 400, "bad_parameter"),
        ("from=-1&to=1", 400, "bad_parameter"),
        ("from=1&to=2&steps=0", 400, "bad_parameter"),
        ("from=1&to=2&steps=101", 400, "bad_parameter"),
        ("from=1&to=2&direction=sideways", 400, "bad_parameter"),
        ("from=1&to=2&direction=", 400, "bad_parameter"),
        ("from=1&to=999999", 404, "not_found"),
        ("from=99999999999&to=1", 404, "not_found"),
    ],
)
def test_path_errors_share_the_json_shape(
    app: Flask, filled: list[int], query: str, status: int, error: str
) -> None:
    with app.test_client() as client:
        response = client.get(f"/api/path?{query}")
        assert response.status_code == status
        assert set(response.get_json()) == {"error", "message"}
        assert response.get_json()["error"] == error
