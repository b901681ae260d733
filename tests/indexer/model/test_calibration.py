"""The ECE noise floor: what a perfectly calibrated model shows on a finite sample."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.model.calibration import ece_noise_floor, expected_calibration_error, sample_labels


def _probabilities(n: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.full(10, 0.5), size=n)


def test_sampled_labels_follow_each_rows_probabilities() -> None:
    p = np.array([[0.0, 0.2, 0.8], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    drawn = sample_labels(p, np.random.default_rng(0), n_draws=20000)
    assert drawn.shape == (20000, 3)
    for row, labels in zip(p, drawn.T, strict=True):
        share = np.bincount(labels, minlength=3) / len(labels)
        np.testing.assert_allclose(share, row, atol=0.015)
        # A class of probability 0 is never drawn.
        assert share[row == 0].sum() == 0


def test_floor_is_the_mean_ece_of_the_draws() -> None:
    # The vectorized floor must equal the plain ECE of each draw, averaged.
    p = _probabilities(315)
    mean, std = ece_noise_floor(p, n_draws=50, seed=7)
    draws = sample_labels(p, np.random.default_rng(7), n_draws=50)
    per_draw = [expected_calibration_error(p, y) for y in draws]
    assert mean == pytest.approx(np.mean(per_draw), rel=1e-12)
    assert std == pytest.approx(np.std(per_draw), rel=1e-12)


def test_floor_shrinks_with_more_songs_and_is_reproducible() -> None:
    small = ece_noise_floor(_probabilities(300))[0]
    large = ece_noise_floor(_probabilities(3000))[0]
    assert large < small / 2
    assert ece_noise_floor(_probabilities(300)) == ece_noise_floor(_probabilities(300))


def test_certain_predictions_have_no_floor() -> None:
    # A row with probability 1 always draws its top class: confidence 1, always correct.
    assert ece_noise_floor(np.eye(4)[[0, 1, 2, 3, 0]]) == (0.0, 0.0)
    assert ece_noise_floor(np.zeros((0, 4))) == (0.0, 0.0)
