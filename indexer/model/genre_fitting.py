"""Fitting the genre model once, and running many fits side by side.

A fit is the LDA directions (and, opt-in, a logistic regression) plus XGBoost trees on the
features the directions augment (`indexer.model.genre_linear`). Training fits once on every row
and once per cross-validation fold (`indexer.model.genre_cross_validation`); those fits run
together on a thread pool, each on one thread, and a `FitCounter` reports each as it ends.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from indexer.model.genre import blend_proba
from indexer.model.genre_linear import LOGREG_C, LinearPart, fit_linear

# Called with (fits done, fits in all) once before the first fit and after each one, so a caller
# can show training progress without this module printing anything.
FitProgress = Callable[[int, int], None]

# The trees' hyperparameters: what the inner folds of `bench/tune_genre.py --xgb-only` chose most
# often (3 of 6 outer folds over seeds 0 and 1; depth 4 with 200 trees at rate 0.1, depth 2 with
# 400, and depth 4 with 300 at rate 0.05 once each). The candidates differ by less than fold
# noise in outer accuracy; 400 shallow trees keep `soundalike evaluate` fast.
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 400,
    "max_depth": 3,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "tree_method": "hist",
}


class FitCounter:
    """Counts finished fits (they finish on pool threads) and reports each to a `FitProgress`."""

    def __init__(self, total: int, progress: FitProgress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        self._lock = threading.Lock()
        if progress is not None:
            progress(0, total)

    def watch(self, future: Future) -> None:
        """Count ``future``'s fit when it finishes."""
        future.add_done_callback(self._finished)

    def _finished(self, _: Future) -> None:
        with self._lock:
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)


@dataclass(eq=False)
class FittedGenre:
    """One fit's parts: the trees, the linear part they read, and the genres it saw."""

    classifier: xgb.XGBClassifier
    linear: LinearPart
    classes: list[str]


def fit_genre(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    params: dict[str, Any],
    seed: int,
    blend_linear: bool = False,
) -> FittedGenre:
    """Fit the linear part and the trees on ``X`` [shape=(n, 57)] and its genre ``labels``."""
    # XGBoost wants classes 0..k-1 with none missing, so encode per fit from the labels present.
    classes, y = np.unique(labels, return_inverse=True)
    # Without the blend no logistic regression is fitted at all: only the LDA directions.
    linear = fit_linear(X, y, C=LOGREG_C if blend_linear else None)
    # One OpenMP thread per fit; parallelism comes from running fits side by side (see fit_pool).
    classifier = xgb.XGBClassifier(**params, random_state=seed, n_jobs=1)
    classifier.fit(linear.augment(X), y)
    return FittedGenre(classifier=classifier, linear=linear, classes=[str(c) for c in classes])


def fit_pool(n_jobs: int | None) -> ThreadPoolExecutor:
    """Threads that each run whole fits (XGBoost releases the GIL while training).

    XGBoost's own OpenMP threads spin-wait at every tree, which on a shared machine made the 8
    evaluation fits take 210 s with 2 threads against 21 s with 1 (measured on 2 busy cores).
    Whole fits in parallel scale without that cliff.
    """
    return ThreadPoolExecutor(max_workers=max(1, n_jobs or os.cpu_count() or 1))


def predict_classes(fitted: FittedGenre, classes: list[str], X: np.ndarray) -> np.ndarray:
    """Probabilities in ``classes`` order; genres missing from the fit get 0."""
    out = np.zeros((len(X), len(classes)))
    columns = [classes.index(c) for c in fitted.classes]
    out[:, columns] = blend_proba(fitted.classifier, fitted.linear, X)
    return out
