"""Real-music scores on hand-made vectors whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.evaluation.evaluate import leave_one_out_precision
from indexer.evaluation.real_music import (
    Transform,
    excerpt_retrieval,
    group_precision,
    k_occurrence_hubness,
    leave_one_group_out,
    nearest_others,
    space_report,
)


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def angles(*degrees: float) -> np.ndarray:
    """Unit vectors in the plane: cosine falls with the angle between them."""
    radians = np.deg2rad(degrees)
    return unit(np.stack([np.cos(radians), np.sin(radians)], axis=1))


def clusters(sizes: tuple[int, ...], *, dim: int = 8, spread: float = 0.01) -> np.ndarray:
    """Tight clusters around orthogonal axes: every track's own group comes first."""
    rng = np.random.default_rng(0)
    rows = [
        np.eye(dim)[g] + spread * rng.standard_normal(dim)
        for g, n in enumerate(sizes)
        for _ in range(n)
    ]
    return unit(np.array(rows))


# Groups of 4, 4 and 2 tracks.
GROUPS = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 2)
CHANCE = (8 * 3 / 9 + 2 * 1 / 9) / 10


def test_group_precision_known_answers() -> None:
    report = group_precision(clusters((4, 4, 2)), GROUPS, ks=(1, 5, 9))
    assert report["precision@1"]["value"] == pytest.approx(1.0)
    # A group of 4 has 3 others among 5 neighbours, the pair has 1.
    assert report["precision@5"]["value"] == pytest.approx((8 * 3 / 5 + 2 * 1 / 5) / 10)
    # Nine neighbours are every other track: precision is exactly the chance level.
    assert report["precision@9"]["value"] == pytest.approx(CHANCE)
    for k in (1, 5, 9):
        assert report[f"precision@{k}"]["chance"] == pytest.approx(CHANCE)


def test_group_precision_of_some_queries_uses_their_chance() -> None:
    report = group_precision(clusters((4, 4, 2)), GROUPS, ks=(1, 5), queries=np.array([8, 9]))
    assert report["precision@1"]["value"] == pytest.approx(1.0)
    assert report["precision@5"]["value"] == pytest.approx(1 / 5)
    assert report["precision@5"]["chance"] == pytest.approx(1 / 9)


def test_group_precision_matches_leave_one_out_precision() -> None:
    rng = np.random.default_rng(1)
    vecs = unit(rng.standard_normal((60, 6)))
    groups = rng.integers(0, 4, 60)
    report = group_precision(vecs, groups)
    for k in (1, 5, 10):
        # Same FAISS scores in both: only the averaging differs (float64 means of 0/1 values).
        assert report[f"precision@{k}"]["value"] == pytest.approx(
            leave_one_out_precision(vecs, groups, k=k), abs=1e-12
        )


def test_random_vectors_score_near_chance() -> None:
    rng = np.random.default_rng(2)
    vecs = unit(rng.standard_normal((2000, 16)))
    groups = rng.choice(["big", "mid", "small"], size=2000, p=[0.6, 0.3, 0.1])
    report = group_precision(vecs, groups)
    chance = report["precision@10"]["chance"]
    assert chance == pytest.approx(0.6**2 + 0.3**2 + 0.1**2, abs=0.02)
    # 20 000 neighbour labels: the standard error of their share is about 0.004.
    assert report["precision@10"]["value"] == pytest.approx(chance, abs=0.02)


def test_nearest_others_leaves_the_query_out_even_when_a_duplicate_ties() -> None:
    neighbours = nearest_others(angles(0, 0, 90), k=1)
    assert neighbours[:2, 0].tolist() == [1, 0]


@pytest.mark.parametrize("k", [0, 3])
def test_nearest_others_rejects_impossible_depths(k: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 2"):
        nearest_others(angles(0, 10, 20), k=k)


# Excerpts: A at 0° and 12°, B at 5° and 90°, C at 45° and 50°.
EXCERPTS = angles(0, 12, 5, 90, 45, 50)
EXCERPT_TRACKS = np.array([0, 0, 1, 1, 2, 2])


def test_excerpt_retrieval_known_answers() -> None:
    # A's excerpts each see B's 5° excerpt first, then each other; B's 5° excerpt sees both of
    # A's first and its own 90° partner last; the 90° one sees C's first. C's find each other.
    report = excerpt_retrieval(EXCERPTS, EXCERPT_TRACKS, k=2)
    assert report["excerpt@1"] == {"value": pytest.approx(2 / 6), "chance": pytest.approx(1 / 5)}
    assert report["recall@2"] == {"value": pytest.approx(4 / 6), "chance": pytest.approx(2 / 5)}
    assert report["n_excerpts"] == 6


def test_excerpt_retrieval_of_some_queries() -> None:
    report = excerpt_retrieval(EXCERPTS, EXCERPT_TRACKS, k=2, queries=np.array([4, 5, 3]))
    assert report["excerpt@1"]["value"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "tracks",
    [np.array([0, 0, 1, 1, 1, 2]), np.array([0, 0, 0, 0, 0, 0]), np.array([0, 1, 2, 3, 4, 5])],
)
def test_excerpt_retrieval_needs_pairs(tracks: np.ndarray) -> None:
    with pytest.raises(ValueError, match="two excerpts"):
        excerpt_retrieval(EXCERPTS, tracks)


def test_hubness_of_a_star() -> None:
    # Row 0 is the centre of four orthogonal axes: every axis's nearest. k-occurrences are
    # 4 (the hub), 1 (the axis the hub picks) and 0, 0, 0: skewness 4.8 / 2.4**1.5.
    vecs = unit(np.vstack([np.ones(4), np.eye(4)]))
    hubs = k_occurrence_hubness(vecs, k=1)
    assert hubs["k_occurrence_skewness"] == pytest.approx(4.8 / 2.4**1.5)
    assert (hubs["max_k_occurrence"], hubs["max_k_occurrence_row"]) == (4, 0)
    assert hubs["never_a_neighbour"] == pytest.approx(3 / 5)


def test_hubness_of_a_ring_is_zero() -> None:
    # Evenly spaced on a circle, each point's two nearest are its two neighbours on the ring.
    hubs = k_occurrence_hubness(angles(*range(0, 360, 45)), k=2)
    assert hubs["k_occurrence_skewness"] == pytest.approx(0.0, abs=1e-9)
    assert hubs["max_k_occurrence"] == 2


def test_space_report_has_every_score() -> None:
    vecs = clusters((4, 4, 2))
    report = space_report(
        vecs, GROUPS, excerpt_vecs=EXCERPTS, excerpt_tracks=EXCERPT_TRACKS, ks=(1, 5)
    )
    assert (report["n_tracks"], report["n_groups"]) == (10, 3)
    assert report["precision@1"]["value"] == pytest.approx(1.0)
    assert report["excerpts"]["excerpt@1"]["value"] == pytest.approx(2 / 6)
    assert report["hubness"]["k"] == 9  # k=10 asked, but only nine other tracks exist


def test_leave_one_group_out_with_an_unfitted_space_equals_the_plain_scores() -> None:
    vecs = clusters((4, 4, 2))
    seen: list[set[str]] = []

    def fit(rows: np.ndarray, groups: np.ndarray) -> Transform:
        seen.append(set(groups.tolist()))
        return unit

    excerpts = clusters((2, 2, 2, 2), spread=0.3)
    tracks = np.repeat([0, 4, 5, 8], 2)  # two excerpts each of tracks in groups a, a, b, c
    report = leave_one_group_out(
        fit, vecs, GROUPS, excerpts=excerpts, excerpt_tracks=tracks, ks=(1, 5)
    )
    assert seen == [{"b", "c"}, {"a", "c"}, {"a", "b"}]
    plain = group_precision(vecs, GROUPS, ks=(1, 5))
    for k in (1, 5):
        assert report[f"precision@{k}"] == pytest.approx(plain[f"precision@{k}"])
    alone = excerpt_retrieval(excerpts, tracks)
    for score in ("excerpt@1", "recall@5"):
        assert report["excerpts"][score] == pytest.approx(alone[score])
    assert report["per_group"]["c"]["precision@5"] == pytest.approx(1 / 5)


def test_leave_one_group_out_weighs_every_track_once() -> None:
    # The fit centres on the training rows: each fold gives another space.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 5)) + np.array([3.0, 0, 0, 0, 0])

    def fit(rows: np.ndarray, groups: np.ndarray) -> Transform:
        mean = rows.mean(axis=0)
        return lambda X: unit(X - mean)

    report = leave_one_group_out(fit, X, GROUPS, ks=(1, 5))
    expected = 0.0
    for name, size in (("a", 4), ("b", 4), ("c", 2)):
        fold = group_precision(
            fit(X[GROUPS != name], GROUPS[GROUPS != name])(X),
            GROUPS,
            ks=(5,),
            queries=np.flatnonzero(GROUPS == name),
        )
        assert report["per_group"][name]["precision@5"] == pytest.approx(
            fold["precision@5"]["value"]
        )
        expected += size * fold["precision@5"]["value"] / 10
    assert report["precision@5"]["value"] == pytest.approx(expected)
    assert report["precision@5"]["chance"] == pytest.approx(CHANCE)
    assert "hubness" not in report


def test_leave_one_group_out_needs_two_groups() -> None:
    with pytest.raises(ValueError, match="two groups"):
        leave_one_group_out(lambda rows, groups: unit, clusters((3,)), np.zeros(3))
