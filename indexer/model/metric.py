"""A genre-aware neighbour metric learned from labels: LDA on log-variance, standardized features.

Standardized cosine treats all 57 features alike, so noisy columns (tempo, high MFCC variances)
weigh as much as the ones that separate styles. Linear discriminant analysis finds the few
directions along which songs of one genre sit close and songs of different genres far apart.
On the artist-filtered GTZAN folds (fitted on the training songs only) neighbour genre
precision@5 rises from 0.39 (standardized cosine) to 0.51; see ``soundalike evaluate``.

The vector of a song is the concatenation of

- the square roots of its LDA class posteriors (their inner product is the Bhattacharyya
  coefficient of two songs' genre distributions: 1 when they are equally sure of the same
  genre), and
- its unit-length LDA projection, so that among songs of one genre the nearer sound wins,

scaled to unit length so that FAISS inner product stays cosine. The transform is a few matrices,
stored as JSON with the scaler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.errors import ModelError


@dataclass(frozen=True, eq=False)
class Projection:
    """LDA fitted on standardized features.

    Attributes
    ----------
    classes : tuple[str, ...]
        Genres, column order of the posteriors.
    coef : np.ndarray [shape=(n_classes, n_features)]
    intercept : np.ndarray [shape=(n_classes,)]
        Linear class scores; their softmax is the LDA posterior.
    center : np.ndarray [shape=(n_features,)]
        Subtracted before projecting.
    scalings : np.ndarray [shape=(n_features, n_components)]
        Discriminant directions (n_components <= n_classes - 1).
    """

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    center: np.ndarray
    scalings: np.ndarray

    @property
    def dim(self) -> int:
        """Length of the vectors `transform` returns."""
        return len(self.classes) + self.scalings.shape[1]

    def transform(self, Z: np.ndarray) -> np.ndarray:
        """Map standardized rows Z [shape=(n, n_features)] to rows of ``dim`` values (not unit)."""
        scores = Z @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        posterior = np.exp(scores)
        posterior /= posterior.sum(axis=1, keepdims=True)
        projected = (Z - self.center) @ self.scalings
        norms = np.linalg.norm(projected, axis=1, keepdims=True)
        projected = np.divide(projected, norms, out=np.zeros_like(projected), where=norms > 0)
        return np.hstack([np.sqrt(posterior), projected])

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values; floats round-trip exactly."""
        return {
            "kind": "lda",
            "classes": list(self.classes),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "center": self.center.tolist(),
            "scalings": self.scalings.tolist(),
        }

    @classmethod
    def from_json(cls, document: Any, *, n_features: int) -> Projection:
        """Inverse of `to_json`; `ModelError` if the shapes or values are wrong."""
        try:
            if document["kind"] != "lda":
                raise ValueError(f"unknown projection kind {document['kind']!r}")
            classes = tuple(str(c) for c in document["classes"])
            coef = np.asarray(document["coef"], dtype=np.float64)
            intercept = np.asarray(document["intercept"], dtype=np.float64)
            center = np.asarray(document["center"], dtype=np.float64)
            scalings = np.asarray(document["scalings"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"projection is corrupt: {exc!r}") from exc
        n = len(classes)
        if (
            coef.shape != (n, n_features)
            or intercept.shape != (n,)
            or center.shape != (n_features,)
            or scalings.ndim != 2
            or scalings.shape[0] != n_features
        ):
            raise ModelError("projection matrices have the wrong shapes")
        if not all(np.isfinite(a).all() for a in (coef, intercept, center, scalings)):
            raise ModelError("projection has non-finite values")
        return cls(
            classes=classes, coef=coef, intercept=intercept, center=center, scalings=scalings
        )

    def digest_parts(self) -> list[bytes]:
        """Bytes that identify the projection, for the scaler's version hash."""
        parts = ["\0".join(self.classes).encode()]
        for array in (self.coef, self.intercept, self.center, self.scalings):
            parts.append(np.ascontiguousarray(array, dtype="<f8").tobytes())
        return parts


def fit_projection(Z: np.ndarray, labels: np.ndarray) -> Projection:
    """Fit LDA on standardized rows Z [shape=(n, n_features)] with their genre labels.

    Needs at least two genres and more rows than genres; `ModelError` otherwise.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2 or len(labels) <= len(classes):
        raise ModelError(
            f"a learned metric needs at least 2 genres and more songs than genres "
            f"(got {len(labels)} songs, {len(classes)} genres)"
        )
    # Imported here: scikit-learn costs most of a second to import, and only fitting needs it,
    # never a service worker that applies a saved projection.
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    # The SVD solver needs no within-class covariance inverse, so constant or collinear
    # columns (a user's small table) do not break it.
    lda = LinearDiscriminantAnalysis(solver="svd").fit(Z, labels)
    coef = np.asarray(lda.coef_, dtype=np.float64)
    intercept = np.asarray(lda.intercept_, dtype=np.float64)
    if len(classes) == 2:
        # Binary LDA keeps one score for the second class; the first one's is its negative,
        # up to the shared offset that softmax ignores.
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    n_components = min(len(classes) - 1, lda.scalings_.shape[1])
    return Projection(
        classes=tuple(str(c) for c in lda.classes_),
        coef=coef,
        intercept=intercept,
        center=np.asarray(lda.xbar_, dtype=np.float64),
        scalings=np.asarray(lda.scalings_[:, :n_components], dtype=np.float64),
    )
