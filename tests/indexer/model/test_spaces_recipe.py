"""The sound space's recipe: the networks' vector joined with the standardized features.

The cosine of two joined vectors must be the weighted sum of the two halves' cosines (that is
what the weight measured in docs/evaluation.md means), and a song's vector must not depend on
the other rows it is computed with.
"""

from __future__ import annotations

import numpy as np
import pytest

from indexer.audio.embedding import N_PENULTIMATE, STORED_DIM
from indexer.audio.feature_columns import N_FEATURES
from indexer.errors import ParameterError
from indexer.model.spaces import FEATURES_WEIGHT, SOUND_DIM, network_vectors, sound_vectors


def rows(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative network means (ReLU outputs) and standardized features of ``n`` songs."""
    rng = np.random.default_rng(seed)
    embeddings = rng.random((n, STORED_DIM), dtype=np.float32)
    standardized = rng.standard_normal((n, N_FEATURES))
    return embeddings, standardized


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two vectors of any length."""
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("w", [0.0, 0.1, FEATURES_WEIGHT, 0.5, 1.0])
def test_the_cosine_is_the_weighted_sum_of_the_halves_cosines(w: float) -> None:
    embeddings, standardized = rows(2)
    joined = sound_vectors(embeddings, standardized=standardized, w=w)
    assert joined.shape == (2, SOUND_DIM)
    np.testing.assert_allclose(np.linalg.norm(joined, axis=1), 1.0, atol=1e-6)
    network = network_vectors(embeddings)
    expected = (1 - w) * cosine(network[0], network[1]) + w * cosine(
        standardized[0], standardized[1]
    )
    assert float(joined[0] @ joined[1]) == pytest.approx(expected, abs=1e-5)


def test_without_weight_the_features_half_is_zero() -> None:
    embeddings, standardized = rows(3)
    joined = sound_vectors(embeddings, standardized=standardized, w=0.0)
    np.testing.assert_allclose(joined[:, :STORED_DIM], network_vectors(embeddings), atol=1e-6)
    assert not joined[:, STORED_DIM:].any()


def test_each_network_weighs_the_same_whatever_its_scale() -> None:
    embeddings, _ = rows(1)
    loud = embeddings.copy()
    loud[:, :N_PENULTIMATE] *= 1000.0
    np.testing.assert_allclose(network_vectors(loud), network_vectors(embeddings), atol=1e-6)


def test_a_songs_vector_does_not_depend_on_the_other_rows() -> None:
    embeddings, standardized = rows(5)
    together = sound_vectors(embeddings, standardized=standardized)
    for i in range(5):
        alone = sound_vectors(embeddings[[i]], standardized=standardized[[i]])
        np.testing.assert_allclose(alone[0], together[i], atol=1e-6)


def test_silent_networks_leave_the_features_half() -> None:
    embeddings, standardized = rows(1)
    joined = sound_vectors(np.zeros_like(embeddings), standardized=standardized)
    assert np.isfinite(joined).all()
    assert not joined[:, :STORED_DIM].any()
    features = joined[0, STORED_DIM : STORED_DIM + N_FEATURES]
    np.testing.assert_allclose(
        features, standardized[0] / np.linalg.norm(standardized[0]), atol=1e-6
    )


def test_the_vector_is_the_joined_values_without_padding() -> None:
    # Padding for FAISS's kernels belongs to the index kind that needs it (ivf-sq8), not here.
    embeddings, standardized = rows(3)
    joined = sound_vectors(embeddings, standardized=standardized)
    assert joined.shape == (3, STORED_DIM + N_FEATURES) == (3, SOUND_DIM)
    assert joined[:, STORED_DIM:].any(axis=1).all()


@pytest.mark.parametrize(
    ("embeddings_shape", "standardized_shape", "w"),
    [
        ((2, STORED_DIM - 1), (2, N_FEATURES), FEATURES_WEIGHT),
        ((2, STORED_DIM), (2, N_FEATURES - 1), FEATURES_WEIGHT),
        ((2, STORED_DIM), (3, N_FEATURES), FEATURES_WEIGHT),
        ((2, STORED_DIM), (2, N_FEATURES), -0.1),
        ((2, STORED_DIM), (2, N_FEATURES), 1.5),
    ],
)
def test_bad_input_is_refused(
    embeddings_shape: tuple[int, int], standardized_shape: tuple[int, int], w: float
) -> None:
    with pytest.raises(ParameterError):
        sound_vectors(np.ones(embeddings_shape), standardized=np.ones(standardized_shape), w=w)
