"""The linear part of the genre model: LDA directions, optionally a logistic regression, as JSON.

Trees on the 57 raw features miss what a linear view sees at once. On log-variance,
standardized features (the neighbour metric's input), the LDA directions give the trees 9
extra inputs along which genres separate: feature engineering, fitted on the training rows only,
while XGBoost stays the classifier. A multinomial logistic regression whose probabilities are
averaged with the trees' is an opt-in (``soundalike train --blend-linear``): it scored within
fold noise of the trees alone (see the README), and XGBoost is the classifier by design.
Models saved in format 2 always carry it, and load as that blend.

Everything here is a few matrices, so it is stored as plain JSON inside the model metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.errors import ModelError
from indexer.model.scaler import fit_scaler

# Inverse regularization strength of the opt-in logistic regression; 0.1 was chosen over 1 by
# nested cross-validation together with the LDA-augmented trees.
LOGREG_C = 0.1


@dataclass(frozen=True, eq=False)
class LinearPart:
    """Standardization, LDA directions and an optional logistic regression, fitted on one
    training table.

    Attributes
    ----------
    log_columns : tuple[str, ...]
        Columns replaced by their natural log before standardizing.
    mean, scale : np.ndarray [shape=(57,)]
        Standardization after the log.
    center : np.ndarray [shape=(57,)]
        Subtracted from standardized rows before projecting on the directions.
    scalings : np.ndarray [shape=(57, n_directions)]
        LDA discriminant directions (n_directions <= n_classes - 1).
    coef : np.ndarray [shape=(n_classes, 57)] or None
    intercept : np.ndarray [shape=(n_classes,)] or None
        Logistic regression class scores; their softmax is its probability. Both None when no
        logistic regression was fitted: the model is then the trees alone (see `has_logreg`).
    """

    log_columns: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    center: np.ndarray
    scalings: np.ndarray
    coef: np.ndarray | None = None
    intercept: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.coef is None) != (self.intercept is None):
            raise ModelError("genre model linear part has coef without intercept or vice versa")

    @property
    def has_logreg(self) -> bool:
        """Whether a logistic regression is present, to be averaged with the trees."""
        return self.coef is not None

    @property
    def n_directions(self) -> int:
        """How many LDA directions `augment` appends to the raw features."""
        return int(self.scalings.shape[1])

    def standardize(self, X: np.ndarray) -> np.ndarray:
        """Log of ``log_columns``, then (x - mean) / scale [shape=(n, 57)]."""
        columns = [FEATURE_NAMES.index(name) for name in self.log_columns]
        Z = X.copy()
        # Silence has a variance of 0; clamp as the scaler does instead of producing -inf.
        Z[:, columns] = np.log(np.maximum(Z[:, columns], 1e-12))
        return (Z - self.mean) / self.scale

    def augment(self, X: np.ndarray) -> np.ndarray:
        """Raw features followed by their LDA coordinates: the trees' input [shape=(n, 57+d)]."""
        return np.hstack([X, (self.standardize(X) - self.center) @ self.scalings])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Logistic regression probabilities of raw rows X [shape=(n, 57)] -> (n, n_classes).

        `ModelError` if no logistic regression was fitted (`has_logreg` is False).
        """
        if self.coef is None or self.intercept is None:
            raise ModelError("this genre model has no logistic regression")
        scores = self.standardize(X) @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        return p / p.sum(axis=1, keepdims=True)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values; floats round-trip exactly. ``coef`` and ``intercept`` are null
        without a logistic regression."""
        return {
            "kind": "lda+logreg",
            "log_columns": list(self.log_columns),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "center": self.center.tolist(),
            "scalings": self.scalings.tolist(),
            "coef": None if self.coef is None else self.coef.tolist(),
            "intercept": None if self.intercept is None else self.intercept.tolist(),
        }

    @classmethod
    def from_json(cls, document: Any, *, n_classes: int, require_logreg: bool) -> LinearPart:
        """Inverse of `to_json`; `ModelError` if the shapes or values are wrong.

        ``require_logreg``: null ``coef``/``intercept`` are corrupt (format 2 always had them).
        """
        n = len(FEATURE_NAMES)
        try:
            if document["kind"] != "lda+logreg":
                raise ValueError(f"unknown linear part {document['kind']!r}")
            log_columns = tuple(str(c) for c in document["log_columns"])
            keys = ["mean", "scale", "center", "scalings"]
            has_logreg = document["coef"] is not None
            if has_logreg != (document["intercept"] is not None):
                raise ModelError("genre model linear part has coef without intercept or vice versa")
            if require_logreg and not has_logreg:
                raise ValueError("no logistic regression, which this format always has")
            if has_logreg:
                keys += ["coef", "intercept"]
            arrays = {key: np.asarray(document[key], dtype=np.float64) for key in keys}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"genre model linear part is corrupt: {exc!r}") from exc
        scalings = arrays["scalings"]
        if (
            not set(log_columns) <= set(FEATURE_NAMES)
            or any(arrays[key].shape != (n,) for key in ("mean", "scale", "center"))
            or scalings.ndim != 2
            or scalings.shape[0] != n
            or ("coef" in arrays and arrays["coef"].shape != (n_classes, n))
            or ("intercept" in arrays and arrays["intercept"].shape != (n_classes,))
        ):
            raise ModelError("genre model linear part has the wrong shapes")
        if not all(np.isfinite(a).all() for a in arrays.values()) or (arrays["scale"] <= 0).any():
            raise ModelError("genre model linear part has invalid values")
        return cls(log_columns=log_columns, **arrays)


def fit_linear(X: np.ndarray, y: np.ndarray, *, C: float | None) -> LinearPart:
    """Fit on raw rows X [shape=(n, 57)] with class indices y [shape=(n,)], 0..k-1, k >= 2.

    ``C`` is the logistic regression's inverse regularization (`LOGREG_C` for the blend); None
    fits the LDA directions only, with no logistic regression at all.
    """
    # The metric's scaler does the same log, standardization and LDA; reuse its fit.
    scaler = fit_scaler(X, source_sha256="", labels=y.astype(str), metric="lda")
    projection = scaler.projection
    if projection is None:  # fit_scaler always projects with metric="lda"
        raise ModelError("LDA projection missing")
    lda = LinearPart(
        log_columns=scaler.log_columns,
        mean=scaler.mean,
        scale=scaler.scale,
        center=projection.center,
        scalings=projection.scalings,
    )
    if C is None:
        return lda
    Z = scaler.standardize(X)
    model = LogisticRegression(C=C, max_iter=2000).fit(Z, y)
    # C order, as `from_json` gives a loaded model: scikit-learn's coef_ is Fortran-ordered, and
    # BLAS may round the product differently for the two layouts, so a saved blend would not
    # predict bit for bit what it did before saving.
    coef = np.ascontiguousarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:
        # Binary: sklearn keeps one score (for class 1); softmax of [0, s] is its sigmoid.
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    return replace(lda, coef=coef, intercept=intercept)
