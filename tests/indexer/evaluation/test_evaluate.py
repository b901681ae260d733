"""Neighbour precision on hand-made vectors, and the measured numbers on the bundled table."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.evaluation.evaluate import evaluate_table, leave_one_out_precision, neighbour_precision
from indexer.model.gtzan_table import bundled_table_path, load_table


def unit(*rows: tuple[float, float]) -> np.ndarray:
    vecs = np.asarray(rows, dtype=np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    return evaluate_table(load_table(bundled_table_path()))


# Train songs at 0°, 10°, 80° and 90°; labels a, a, b, b.
TRAIN = unit((1, 0), (0.985, 0.174), (0.174, 0.985), (0, 1))
TRAIN_LABELS = np.array(["a", "a", "b", "b"])


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, 1.0),  # both test songs find their own genre first
        (2, 1.0),
        (3, (2 / 3 + 2 / 3) / 2),  # third neighbour is from the other genre
        (4, 0.5),
    ],
)
def test_neighbour_precision_known_answers(k: int, expected: float) -> None:
    test = unit((1, 0.05), (0.05, 1))
    labels = np.array(["a", "b"])
    assert neighbour_precision(TRAIN, TRAIN_LABELS, test, labels, k=k) == pytest.approx(expected)


def test_neighbour_precision_counts_wrong_genres() -> None:
    test = unit((1, 0.05))
    assert neighbour_precision(TRAIN, TRAIN_LABELS, test, np.array(["b"]), k=2) == 0.0


def test_leave_one_out_excludes_the_song_even_when_a_duplicate_ties() -> None:
    # Songs 0 and 1 are identical but labelled differently: each must find the other, not
    # itself, so both score 0; songs 2 and 3 find each other and score 1.
    vecs = unit((1, 0), (1, 0), (0, 1), (0.1, 1))
    labels = np.array(["x", "y", "z", "z"])
    assert leave_one_out_precision(vecs, labels, k=1) == pytest.approx(0.5)


@pytest.mark.parametrize("k", [0, 5])
def test_bad_k_raises(k: int) -> None:
    with pytest.raises(ValueError, match="k="):
        neighbour_precision(TRAIN, TRAIN_LABELS, TRAIN, TRAIN_LABELS, k=k)
    with pytest.raises(ValueError, match="k="):
        leave_one_out_precision(TRAIN, TRAIN_LABELS, k=k if k else 4)


def _precision(measured: dict[str, Any], split: str, metric: str, k: int = 5) -> dict[str, Any]:
    return measured["neighbours"][split][metric][f"precision@{k}"]


def test_standardizing_doubles_neighbour_precision(measured: dict[str, Any]) -> None:
    raw = _precision(measured, "artist_filter", "raw_cosine")
    std = _precision(measured, "artist_filter", "standardized_cosine")
    # Measured on other artists' songs: 0.21 raw, 0.39 standardized (chance is 0.10).
    assert raw["mean"] == pytest.approx(0.21, abs=0.03)
    assert std["mean"] == pytest.approx(0.39, abs=0.03)
    assert len(std["per_fold"]) == 3
    # Random splits let same-artist songs and duplicates be neighbours, which inflates them.
    random = _precision(measured, "stratified_kfold", "standardized_cosine")
    assert random["mean"] > std["mean"] + 0.1


def test_learned_metric_beats_standardized_cosine(measured: dict[str, Any]) -> None:
    for k in (1, 5, 10):
        lda = _precision(measured, "artist_filter", "lda", k)
        std = _precision(measured, "artist_filter", "standardized_cosine", k)
        assert lda["mean"] > std["mean"] + 0.05
    # Measured: 0.512 ± 0.033 at k=5, fitted on each fold's training songs only.
    assert _precision(measured, "artist_filter", "lda")["mean"] == pytest.approx(0.51, abs=0.02)


def test_hubness_is_reported_per_fold(measured: dict[str, Any]) -> None:
    hubs = measured["neighbours"]["artist_filter"]["lda"]["hubness@10"]
    assert len(hubs) == 3
    for hub in hubs:
        assert 0 <= hub["never_a_neighbour"] < 1
        assert hub["max_k_occurrence"] >= 10  # at least the mean count, 10 x 315 / 633
        assert hub["max_k_occurrence_song"].endswith(".wav")


def test_hubness_of_a_hub() -> None:
    from indexer.evaluation.hubness import hubness

    # Row 5 is everyone's first neighbour; rows 6 and 7 are in nobody's list.
    neighbours = np.array([[5, 8], [5, 8], [5, 9], [5, 9]])
    hub = hubness(neighbours, np.array([5, 6, 7, 8, 9]))
    assert hub["max_k_occurrence"] == 4
    assert hub["max_k_occurrence_row"] == 5
    assert hub["never_a_neighbour"] == pytest.approx(0.4)
    assert hub["k_occurrence_skewness"] > 0


def test_genre_scores_on_both_splits(measured: dict[str, Any]) -> None:
    genre = measured["genre"]
    assert 0.40 < genre["artist_filter"]["accuracy"]["mean"] < 0.70
    assert (
        genre["stratified_kfold"]["accuracy"]["mean"] > genre["artist_filter"]["accuracy"]["mean"]
    )
    assert len(genre["stratified_kfold"]["accuracy"]["per_fold"]) == 5
    honest = genre["artist_filter"]
    # Temperature scaling fitted on other folds more than halves the calibration error.
    assert honest["ece_pooled"] < honest["ece_pooled_uncalibrated"] / 2
    assert np.sum(honest["confusion"]) == 948
    assert measured["genre_model"] == "xgboost"
    # A perfectly calibrated model would show about 0.05 per 315-song fold and 0.03 pooled
    # (label draws from the model's own probabilities); the floor is reported beside the ECE.
    assert 0.03 < honest["ece_floor"]["mean"] < 0.08
    assert len(honest["ece_floor"]["per_fold"]) == 3
    assert 0.015 < honest["ece_pooled_floor"]["mean"] < honest["ece_floor"]["mean"]
    assert 0 < honest["ece_pooled_floor"]["std_over_draws"] < 0.03
    assert set(honest["per_genre"]) == set(honest["classes"])
    assert 0 < honest["uncertain_share"] < 1


def test_result_is_plain_json(measured: dict[str, Any]) -> None:
    from indexer.evaluation.report import public_report

    public = public_report(measured)
    assert json.loads(json.dumps(public)) == public
    assert measured["n_songs"] == 1000
    assert measured["splits"] == {"artist_filter": 3, "stratified_kfold": 5}


def test_report_writes_json_and_figures(tmp_path: Path, measured: dict[str, Any]) -> None:
    from indexer.evaluation.report import write_report

    table = load_table(bundled_table_path())
    paths = write_report(measured, table, tmp_path)
    assert sorted(p.name for p in paths) == [
        "confusion.png",
        "evaluation.json",
        "reliability.png",
        "song_map.png",
    ]
    for path in paths:
        assert path.stat().st_size > 1000
    assert json.loads((tmp_path / "evaluation.json").read_text())["n_songs"] == 1000
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_table_without_the_artist_split_reports_what_it_can(tmp_path: Path) -> None:
    with open(bundled_table_path(), newline="") as handle:
        rows = list(csv.reader(handle))
    path = tmp_path / "small.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *(r for n, r in enumerate(rows[1:]) if n % 10 == 0)])
    result = evaluate_table(load_table(path))
    assert result["n_songs"] == 100
    assert set(result["neighbours"]) == {"stratified_kfold"}
    assert set(result["genre"]) == {"stratified_kfold"}
    assert set(result["reranking"]) == {"stratified_kfold"}
    assert set(result["neighbours"]["stratified_kfold"]) == {
        "raw_cosine",
        "standardized_cosine",
        "lda",
    }


def test_reranking_spreads_artists_removes_duplicates_and_flattens_hubs(
    measured: dict[str, Any],
) -> None:
    honest = measured["reranking"]["artist_filter"]
    plain = honest["plain_knn"]
    # Plain kNN over 100 candidates is the same list the neighbour report scores.
    lda = measured["neighbours"]["artist_filter"]["lda"]["precision@10"]["mean"]
    assert plain["precision@10"] == pytest.approx(lda, abs=1e-9)
    assert honest["max_per_artist_2"]["distinct_artists@10"] > plain["distinct_artists@10"] + 1
    assert honest["hubness_csls"]["hub_skewness@10"] < plain["hub_skewness@10"] - 0.1
    assert all(s["mean_length"] == 10 for s in honest.values())
    # The random split keeps GTZAN's duplicate pairs: plain lists show them, dedupe never does.
    random = measured["reranking"]["stratified_kfold"]
    assert random["plain_knn"]["duplicate_rate"] > 0.05
    assert random["dedupe"]["duplicate_rate"] == 0.0


def _check_walks(walks: dict[str, Any]) -> None:
    for part, keys in {
        "paths": ("smoothness", "direct_hop"),
        "playlists": ("smoothness", "shuffled", "no_cap"),
    }.items():
        for key in keys:
            assert -1.0 <= walks[part][key] <= 1.0, (part, key)
    # A walk of small steps is smoother than the single leap from start to goal.
    assert walks["paths"]["smoothness"] > walks["paths"]["direct_hop"]
    assert walks["paths"]["goal_similarity_fell"] == 0
    assert walks["playlists"]["smoothness"] > walks["playlists"]["shuffled"]


def test_walks_on_the_table_are_smoother_than_the_direct_hop(measured: dict[str, Any]) -> None:
    walks = measured["walks"]
    _check_walks(walks)
    assert walks["paths"]["pairs"] == walks["playlists"]["playlists"] == 50
    # Measured in the features space (log variances, standardized): paths 0.756 against -0.012
    # for the direct hop; playlists 0.795 capped at two songs per artist, 0.821 without the
    # cap, 0.618 shuffled.
    assert walks["paths"]["smoothness"] == pytest.approx(0.756, abs=0.02)
    assert walks["paths"]["smoothness"] > walks["paths"]["direct_hop"] + 0.5
    assert walks["playlists"]["distinct_artists"] > walks["playlists"]["distinct_artists_no_cap"]


def test_walks_on_a_users_table_cap_its_artists(
    small_table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer.evaluation.walks import walk_report

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    walks = walk_report(load_table(small_table), pairs=10)
    _check_walks(walks)
    playlists = walks["playlists"]
    # Four songs per artist in this table: two per artist means at least 13 artists in 25 songs.
    assert playlists["distinct_artists"] >= 13
    assert playlists["distinct_artists"] > playlists["distinct_artists_no_cap"]
    assert list(scratch.iterdir()) == []  # the library's folder is gone
