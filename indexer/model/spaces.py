"""The vector spaces a song lives in, and how a stored row becomes a unit vector in each.

- ``sound``: the pretrained network's hearing (`indexer.audio.embedding`), from the stored
  embedding column;
- ``features``: the 57 GTZAN features, log of the variances, standardized (`indexer.model.scaler`
  with the ``standardized`` metric).

Every vector is unit length, so a FAISS inner product is the cosine.
"""

from __future__ import annotations

import numpy as np

from indexer.audio.embedding import MODELS, N_PENULTIMATE, STORED_DIM
from indexer.errors import ParameterError

SOUND = "sound"
FEATURES = "features"
SPACES = (SOUND, FEATURES)
DEFAULT_SPACE = SOUND
"""The space every neighbour query uses unless told otherwise: the one that wins on real music
(docs/evaluation.md)."""

SOUND_DIM = STORED_DIM


def sound_vectors(embeddings: np.ndarray) -> np.ndarray:
    """Stored embeddings [shape=(n, 400)] to unit vectors in the sound space [shape=(n, 400)].

    Each network's 200 values are made unit length before joining, so that neither network
    outweighs the other by the scale of its activations; the joined vector is unit length again.
    Chosen on the game-soundtrack corpus (docs/evaluation.md, ``python -m bench.real_music``):
    both networks joined beat either alone on soundtrack precision@5 and on excerpt
    self-retrieval; the fixed alternatives tried (the 400 values joined as they are, a signed
    square root) were within noise of it, and centring or standardizing with the corpus's own
    statistics, which did better leave-one-soundtrack-out, needs statistics from a music
    collection that a single vector does not have. The recipe takes no fitted parameter, so a
    song's vector never depends on what else is indexed.
    """
    X = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
    if X.shape[1] != STORED_DIM:
        raise ParameterError(f"need embeddings [shape=(n, {STORED_DIM})], got shape {X.shape}")
    parts = [
        _unit_rows(X[:, i * N_PENULTIMATE : (i + 1) * N_PENULTIMATE]) for i in range(len(MODELS))
    ]
    return _unit_rows(np.hstack(parts))


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row (silence after ReLU) stays zero, never NaN."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(norms > 0, norms, 1.0)).astype(np.float32)
