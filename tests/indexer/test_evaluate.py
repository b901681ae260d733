"""Neighbour precision on hand-made vectors, and the measured numbers on the bundled table."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.evaluate import evaluate_table, leave_one_out_precision, neighbour_precision
from indexer.table import bundled_table_path, load_table


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


def test_standardizing_doubles_neighbour_precision(measured: dict[str, Any]) -> None:
    raw = measured["neighbour_precision"]["raw_cosine"]
    std = measured["neighbour_precision"]["standardized_cosine"]
    # Measured on other artists' songs: 0.21 raw, 0.39 standardized (chance is 0.10).
    assert raw["artist_filter"]["mean"] == pytest.approx(0.21, abs=0.03)
    assert std["artist_filter"]["mean"] == pytest.approx(0.39, abs=0.03)
    assert std["artist_filter"]["mean"] > raw["artist_filter"]["mean"] + 0.1
    assert len(std["artist_filter"]["per_fold"]) == 3
    # Leave-one-out lets same-artist songs and duplicates be neighbours, which inflates it.
    assert std["leave_one_out"] > std["artist_filter"]["mean"] + 0.1
    assert std["leave_one_out"] > raw["leave_one_out"]


def test_genre_accuracy_on_both_splits(measured: dict[str, Any]) -> None:
    accuracy = measured["genre_accuracy"]
    assert 0.40 < accuracy["artist_filter"]["mean"] < 0.70
    assert accuracy["stratified_kfold"]["mean"] > accuracy["artist_filter"]["mean"]
    assert len(accuracy["stratified_kfold"]["per_fold"]) == 5


def test_result_is_plain_json(measured: dict[str, Any]) -> None:
    assert json.loads(json.dumps(measured)) == measured
    assert measured["n_songs"] == 1000
    assert measured["k"] == 5


def test_table_without_the_artist_split_reports_what_it_can(tmp_path: Path) -> None:
    with open(bundled_table_path(), newline="") as handle:
        rows = list(csv.reader(handle))
    path = tmp_path / "small.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *(r for n, r in enumerate(rows[1:]) if n % 10 == 0)])
    result = evaluate_table(load_table(path))
    assert result["n_songs"] == 100
    assert set(result["neighbour_precision"]["standardized_cosine"]) == {"leave_one_out"}
    assert set(result["genre_accuracy"]) == {"stratified_kfold"}
