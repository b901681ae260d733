"""Explanations add up to the cosine; the duplicate threshold separates GTZAN's duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.model.gtzan_table import FeatureTable, bundled_table_path, load_table
from indexer.model.scaler import Scaler, fit_scaler
from indexer.recommend.duplicates import DUPLICATE_COSINE
from indexer.recommend.explain import GROUPS, explain, tempo_phrase


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return load_table(bundled_table_path())


@pytest.fixture(scope="module")
def scaler(table: FeatureTable) -> Scaler:
    return fit_scaler(table.X, source_sha256=table.sha256, labels=table.labels, metric="lda")


def test_groups_cover_every_feature_once() -> None:
    names = [name for group in GROUPS.values() for name in group]
    assert sorted(names) == sorted(FEATURE_NAMES)


def test_parts_sum_exactly_to_the_cosine(table: FeatureTable, scaler: Scaler) -> None:
    rng = np.random.default_rng(0)
    rows = rng.choice(len(table), size=40, replace=False)
    query, others = table.X[rows[0]], table.X[rows[1:]]
    vectors = scaler.transform(table.X[rows]).astype(np.float64)
    for explanation, vector in zip(explain(scaler, query, others), vectors[1:], strict=True):
        assert sum(explanation.parts.values()) == pytest.approx(explanation.cosine, abs=1e-9)
        # The same cosine the index computes, up to its float32 storage.
        assert explanation.cosine == pytest.approx(float(vectors[0] @ vector), abs=1e-6)
        assert set(explanation.parts) == set(GROUPS)


def test_explanations_are_symmetric(table: FeatureTable, scaler: Scaler) -> None:
    ab = explain(scaler, table.X[3], table.X[500])[0]
    ba = explain(scaler, table.X[500], table.X[3])[0]
    assert ab.parts == pytest.approx(ba.parts, abs=1e-12)


def test_a_song_differing_only_in_tempo_is_explained_by_rhythm(
    table: FeatureTable, scaler: Scaler
) -> None:
    song = table.X[10]
    faster = song.copy()
    faster[FEATURE_NAMES.index("tempo")] *= 1.8
    why = explain(scaler, song, faster)[0]
    alone = explain(scaler, song, song)[0]
    assert alone.cosine == pytest.approx(1.0, abs=1e-12)
    assert why.parts["rhythm"] < alone.parts["rhythm"]
    assert "same tempo band" in alone.summary
    assert "different tempo" in why.summary


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (120.0, 123.0, "same tempo band (~122 BPM)"),
        (60.0, 120.0, "half or double tempo (60 vs 120 BPM)"),
        (90.0, 140.0, "different tempo (90 vs 140 BPM)"),
        (0.0, 0.0, "no detected tempo"),
    ],
)
def test_tempo_phrase(a: float, b: float, expected: str) -> None:
    assert tempo_phrase(a, b) == expected


def test_duplicate_threshold_separates_gtzan_duplicates(
    table: FeatureTable, scaler: Scaler
) -> None:
    V = scaler.transform(table.X).astype(np.float64)
    Z = scaler.standardize(table.X)
    cosine = V @ V.T
    distance = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2))
    upper = np.triu(np.ones_like(cosine, dtype=bool), 1)
    identical = upper & (distance < 1e-9)
    assert identical.sum() == 14  # Sturm's exact repetitions, as rows of this table
    assert cosine[identical].min() >= DUPLICATE_COSINE
    # Every pair above the threshold is a duplicate or within 0.1 standard deviations of one.
    above = upper & (cosine >= DUPLICATE_COSINE)
    assert distance[above].max() < 0.1
    nearest = np.where(np.eye(len(V), dtype=bool) | (distance < 0.1), -1, cosine).max(axis=1)
    assert nearest.max() < DUPLICATE_COSINE
