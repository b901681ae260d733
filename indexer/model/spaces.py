"""The vector spaces a song lives in, and how a stored row becomes a unit vector in each.

- ``sound``: the pretrained network's hearing (`indexer.audio.embedding`), from the stored
  embedding column, joined with a small weight of the song's standardized features
  (`sound_vectors`);
- ``features``: the 57 GTZAN features, log of the variances, standardized (`indexer.model.scaler`
  with the ``standardized`` metric).

Every vector is unit length, so a FAISS inner product is the cosine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from indexer.audio.embedding import MODELS, N_PENULTIMATE, STORED_DIM
from indexer.audio.feature_columns import N_FEATURES
from indexer.errors import ParameterError

if TYPE_CHECKING:
    from indexer.model.scaler import Scaler

SOUND = "sound"
FEATURES = "features"
SPACES = (SOUND, FEATURES)
DEFAULT_SPACE = SOUND
"""The space every neighbour query uses unless told otherwise: the one that wins on real music
(docs/evaluation.md)."""

FEATURES_WEIGHT = 0.2
"""The share of the features' cosine in the sound space's cosine (docs/evaluation.md)."""

SOUND_DIM = STORED_DIM + N_FEATURES
"""The sound space's dimension: the 400 network values joined with the 57 features. The index
kind that pads vectors for FAISS's SIMD kernels does so itself (`indexer.vectors.kinds`)."""


def network_vectors(embeddings: np.ndarray) -> np.ndarray:
    """Stored embeddings [shape=(n, 400)] to unit vectors of the networks alone [shape=(n, 400)].

    Each network's 200 values are made unit length before joining, so that neither network
    outweighs the other by the scale of its activations; the joined vector is unit length again.
    Chosen on the game-soundtrack corpus (docs/evaluation.md, ``python -m bench.real_music``):
    both networks joined beat either alone on soundtrack precision@5 and on excerpt
    self-retrieval; the fixed alternatives tried (the 400 values joined as they are, a signed
    square root, centring on another collection's mean) were within noise of it or worse.
    """
    X = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
    if X.shape[1] != STORED_DIM:
        raise ParameterError(f"need embeddings [shape=(n, {STORED_DIM})], got shape {X.shape}")
    parts = [
        _unit_rows(X[:, i * N_PENULTIMATE : (i + 1) * N_PENULTIMATE]) for i in range(len(MODELS))
    ]
    return _unit_rows(np.hstack(parts))


def sound_vectors(
    embeddings: np.ndarray, *, standardized: np.ndarray, w: float = FEATURES_WEIGHT
) -> np.ndarray:
    """A song's sound-space vector [shape=(n, 457)]: the networks joined with its 57 features.

    ``[sqrt(1 - w) network, sqrt(w) features]``, each half unit length, so the cosine of two
    songs is (1 - w) times their networks' cosine plus w times their features' cosine. The
    network describes a song from a few 3-s patches (`indexer.audio.embedding.MAX_PATCHES`);
    the features summarise the whole analysed window, which is what lets two excerpts of one
    track find each other: on the game-soundtrack corpus, with the four patches the library
    runs, excerpt self-retrieval@1 rises from 0.518 to 0.561 at the same soundtrack
    precision@5 (0.712, 0.714), and it holds for any w from 0.1 to 0.3 (docs/evaluation.md,
    ``python -m bench.sound_blend``).

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n, 400)]
        Stored network means.
    standardized : np.ndarray [shape=(n, 57)]
        The songs' features as the ``features`` space standardizes them
        (`indexer.model.scaler.Scaler.standardize`: log of the variances, the scaler's means
        and spreads, never a learned projection). Those statistics are the only thing a
        song's vector takes from outside it, as in the ``features`` space.
    w : float
        The features' share of the cosine, in [0, 1].
    """
    if not 0.0 <= w <= 1.0:
        raise ParameterError(f"w={w} must be between 0 and 1")
    network = network_vectors(embeddings)
    Z = np.atleast_2d(np.asarray(standardized, dtype=np.float32))
    if Z.shape != (len(network), N_FEATURES):
        raise ParameterError(
            f"need standardized features [shape=({len(network)}, {N_FEATURES})], got {Z.shape}"
        )
    return _unit_rows(np.hstack([np.sqrt(1.0 - w) * network, np.sqrt(w) * _unit_rows(Z)]))


def row_vectors(
    space: str, raw: np.ndarray, *, scaler: Scaler, embeddings: np.ndarray | None = None
) -> np.ndarray:
    """Songs' unit vectors in ``space`` from their stored columns, as the library makes them.

    The one recipe of both spaces: the library's indexes and queries and ``soundalike
    evaluate`` call it, so that what is scored is what the library answers with.

    Parameters
    ----------
    space : str
        ``sound`` or ``features``.
    raw : np.ndarray [shape=(n, 57)]
        Raw features.
    scaler : Scaler
        The data dir's scaler (`indexer.library.Library.scaler`, which ``soundalike train`` may
        have refitted): its statistics standardize the features of both spaces, and in
        ``features`` its projection applies when it has one.
    embeddings : np.ndarray [shape=(n, 400)] or None
        Stored network means; the ``sound`` space needs them.

    Returns
    -------
    np.ndarray [shape=(n, 457) in ``sound``, (n, scaler.dim) in ``features``]
    """
    if space == FEATURES:
        return scaler.transform(np.atleast_2d(raw))
    if space != SOUND:
        raise ParameterError(f"unknown vector space {space!r}; choose from {', '.join(SPACES)}")
    if embeddings is None:
        raise ParameterError(f"the {SOUND} space needs the songs' embeddings")
    return sound_vectors(embeddings, standardized=scaler.standardize(raw))


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row (silence after ReLU) stays zero, never NaN."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(norms > 0, norms, 1.0)).astype(np.float32)
