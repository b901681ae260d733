"""Training the genre model: fits on folds side by side, cross-validation, calibration.

The trees are fitted on the training rows of each fold of `evaluation_splits`, their held-out
probabilities give the temperature and the scores stored with the model, and a final fit on
every row is the model itself (`indexer.model.genre`). `ensure_genre_model` trains one on the
bundled GTZAN table the first time it is needed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.model.calibration import (
    apply_temperature,
    ece_noise_floor,
    expected_calibration_error,
    fit_temperature,
)
from indexer.model.genre import (
    META_FILENAME,
    GenreModel,
    blend_proba,
    load_genre_model,
    save_genre_model,
)
from indexer.model.genre_linear import LOGREG_C, LinearPart, fit_linear
from indexer.model.gtzan_table import (
    FeatureTable,
    Fold,
    artist_filter_folds,
    bundled_table_path,
    group_folds,
    has_artist_filter_split,
    load_table,
    stratified_folds,
)
from indexer.model.scaler import locked

log = logging.getLogger(__name__)

# Called with (fits done, fits in all) once before the first fit and after each one, so a caller
# can show training progress without this module printing anything.
FitProgress = Callable[[int, int], None]


class _FitCounter:
    """Counts finished fits (they finish on pool threads) and reports each to a `FitProgress`."""

    def __init__(self, total: int, progress: FitProgress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        self._lock = threading.Lock()
        if progress is not None:
            progress(0, total)

    def watch(self, future: Future) -> None:
        future.add_done_callback(self._finished)

    def _finished(self, _: Future) -> None:
        with self._lock:
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)


_N_SPLITS = 5

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


@dataclass(eq=False)
class _Fitted:
    classifier: xgb.XGBClassifier
    linear: LinearPart
    classes: list[str]


def _fit(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    params: dict[str, Any],
    seed: int,
    blend_linear: bool = False,
) -> _Fitted:
    # XGBoost wants classes 0..k-1 with none missing, so encode per fit from the labels present.
    classes, y = np.unique(labels, return_inverse=True)
    # Without the blend no logistic regression is fitted at all: only the LDA directions.
    linear = fit_linear(X, y, C=LOGREG_C if blend_linear else None)
    # One OpenMP thread per fit; parallelism comes from running fits side by side (see _pool).
    classifier = xgb.XGBClassifier(**params, random_state=seed, n_jobs=1)
    classifier.fit(linear.augment(X), y)
    return _Fitted(classifier=classifier, linear=linear, classes=[str(c) for c in classes])


def _pool(n_jobs: int | None) -> ThreadPoolExecutor:
    """Threads that each run whole fits (XGBoost releases the GIL while training).

    XGBoost's own OpenMP threads spin-wait at every tree, which on a shared machine made the 8
    evaluation fits take 210 s with 2 threads against 21 s with 1 (measured on 2 busy cores).
    Whole fits in parallel scale without that cliff.
    """
    return ThreadPoolExecutor(max_workers=max(1, n_jobs or os.cpu_count() or 1))


def _predict_all(fitted: _Fitted, classes: list[str], X: np.ndarray) -> np.ndarray:
    """Probabilities in ``classes`` order; genres missing from the fit get 0."""
    out = np.zeros((len(X), len(classes)))
    columns = [classes.index(c) for c in fitted.classes]
    out[:, columns] = blend_proba(fitted.classifier, fitted.linear, X)
    return out


def _fold_predictions(
    table: FeatureTable,
    fold: Fold,
    *,
    classes: list[str],
    params: dict[str, Any],
    seed: int,
    blend_linear: bool,
) -> dict[str, Any]:
    """Test rows of one fold and their uncalibrated probabilities from a fit on its train rows."""
    fitted = _fit(
        table.X[fold.train],
        table.labels[fold.train],
        params=params,
        seed=seed,
        blend_linear=blend_linear,
    )
    return {"test": fold.test, "raw": _predict_all(fitted, classes, table.X[fold.test])}


def _calibrate_folds(table: FeatureTable, folds: list[dict[str, Any]]) -> None:
    """Give each fold a temperature fitted on the other folds' held-out predictions.

    The test songs' own labels never choose their temperature. (An inner split of each training
    side would be stricter still, but doubles the fits; with one scalar fitted on about 630
    songs the difference is small.)
    """
    classes = np.unique(table.labels)
    for i, fold in enumerate(folds):
        others = [f for j, f in enumerate(folds) if j != i]
        if others:
            raw = np.vstack([f["raw"] for f in others])
            y = np.searchsorted(classes, np.concatenate([table.labels[f["test"]] for f in others]))
            fold["temperature"] = fit_temperature(raw, y)
        else:
            fold["temperature"] = 1.0
        fold["calibrated"] = apply_temperature(fold["raw"], fold["temperature"])


def evaluation_splits(table: FeatureTable, *, seed: int = 0) -> dict[str, list[Fold]]:
    """The splits a model on ``table`` is measured on, by name.

    ``artist_filter``: the bundled 3-fold GTZAN split, when every song of it is in the table.
    Otherwise ``group_kfold``: stratified group K-fold on the ``group`` column, if there is one.
    ``stratified_kfold``: stratified random K-fold, optimistic because artists repeat.
    K is at most 5 and at most the size of the smallest genre (or the number of groups); a split
    that would need K < 2 is left out.
    """
    smallest_class = int(np.unique(table.labels, return_counts=True)[1].min())
    splits: dict[str, list[Fold]] = {}
    if has_artist_filter_split(table):
        splits["artist_filter"] = artist_filter_folds(table)
    elif table.groups is not None:
        n_splits = min(_N_SPLITS, smallest_class, len(np.unique(table.groups)))
        if n_splits >= 2:
            splits["group_kfold"] = group_folds(
                table.labels, table.groups, n_splits=n_splits, seed=seed
            )
    n_splits = min(_N_SPLITS, smallest_class)
    if n_splits >= 2:
        splits["stratified_kfold"] = stratified_folds(table.labels, n_splits=n_splits, seed=seed)
    return splits


def cross_validate_genre(
    table: FeatureTable,
    *,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
    blend_linear: bool = False,
) -> dict[str, dict[str, Any]]:
    """Accuracy and calibration of the genre model on each of `evaluation_splits`, as JSON values.

    Each fold refits the model on its training rows; ``n_jobs`` fits run at once (None: all cores).
    ``blend_linear`` measures the opt-in blend with the logistic regression instead.

    Returns ``{split: {"n_splits", "accuracy_mean", "accuracy_std", "accuracy", "ece_mean",
    "ece_std", "ece_floor_mean", "ece_pooled", "ece_pooled_floor"}}`` where ``accuracy`` lists
    the per-fold values, ``ece`` is the expected calibration error of the calibrated
    probabilities, std is the population std over folds, and the floors are what a perfectly
    calibrated model would show on as many songs (`fold_scores`).
    """
    params = dict(DEFAULT_PARAMS if params is None else params)
    with _pool(n_jobs) as pool:
        predictions = _out_of_fold(pool, table, params=params, seed=seed, blend_linear=blend_linear)
    return fold_scores(table, predictions)


def out_of_fold_predictions(
    table: FeatureTable,
    *,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
    blend_linear: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Per split, per fold: test row indices, raw and calibrated probabilities, temperature.

    ``blend_linear``: of the opt-in blend with the logistic regression instead of the trees.
    """
    params = dict(DEFAULT_PARAMS if params is None else params)
    with _pool(n_jobs) as pool:
        return _out_of_fold(pool, table, params=params, seed=seed, blend_linear=blend_linear)


def _out_of_fold(
    pool: Executor,
    table: FeatureTable,
    *,
    params: dict[str, Any],
    seed: int,
    blend_linear: bool,
    splits: dict[str, list[Fold]] | None = None,
    counter: _FitCounter | None = None,
) -> dict[str, list[dict[str, Any]]]:
    classes = [str(c) for c in np.unique(table.labels)]
    if splits is None:
        splits = evaluation_splits(table, seed=seed)
    pending = {
        name: [
            pool.submit(
                _fold_predictions,
                table,
                fold,
                classes=classes,
                params=params,
                seed=seed,
                blend_linear=blend_linear,
            )
            for fold in folds
        ]
        for name, folds in splits.items()
    }
    if counter is not None:
        for futures in pending.values():
            for future in futures:
                counter.watch(future)
    predictions = {name: [f.result() for f in futures] for name, futures in pending.items()}
    for folds in predictions.values():
        _calibrate_folds(table, folds)
    return predictions


def fold_scores(
    table: FeatureTable, predictions: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Accuracy and calibration error per split from `out_of_fold_predictions`.

    Beside each ECE is its noise floor (`ece_noise_floor`): the ECE a perfectly calibrated model
    shows on the same number of songs, about 0.05 on a 315-song fold. Without it an ECE of 0.05
    reads as miscalibration when it is sampling noise.
    """
    classes = np.unique(table.labels)
    scores = {}
    for name, folds in predictions.items():
        accuracy, ece, floor = [], [], []
        for fold in folds:
            y = np.searchsorted(classes, table.labels[fold["test"]])
            accuracy.append(float(np.mean(fold["calibrated"].argmax(axis=1) == y)))
            ece.append(expected_calibration_error(fold["calibrated"], y))
            floor.append(ece_noise_floor(fold["calibrated"])[0])
        pooled = np.vstack([f["calibrated"] for f in folds])
        pooled_y = np.searchsorted(
            classes, np.concatenate([table.labels[f["test"]] for f in folds])
        )
        scores[name] = {
            "n_splits": len(folds),
            "accuracy_mean": float(np.mean(accuracy)),
            "accuracy_std": float(np.std(accuracy)),
            "accuracy": accuracy,
            "ece_mean": float(np.mean(ece)),
            "ece_std": float(np.std(ece)),
            "ece_floor_mean": float(np.mean(floor)),
            "ece_pooled": expected_calibration_error(pooled, pooled_y),
            "ece_pooled_floor": ece_noise_floor(pooled)[0],
        }
    return scores


def _final_temperature(table: FeatureTable, predictions: dict[str, list[dict[str, Any]]]) -> float:
    """T fitted on all held-out predictions of the most honest split (artists held out)."""
    if not predictions:
        return 1.0
    folds = next(iter(predictions.values()))  # evaluation_splits lists the grouped split first
    classes = np.unique(table.labels)
    raw = np.vstack([f["raw"] for f in folds])
    y = np.searchsorted(classes, np.concatenate([table.labels[f["test"]] for f in folds]))
    return fit_temperature(raw, y)


def train_genre_model(
    table: FeatureTable,
    *,
    evaluate: bool = True,
    seed: int = 0,
    n_jobs: int | None = None,
    blend_linear: bool = False,
    progress: FitProgress | None = None,
) -> GenreModel:
    """Fit the classifier on every row of ``table``; with ``evaluate``, also cross-validate it.

    ``n_jobs`` is how many fits run at once, one thread each; None uses every core.
    ``blend_linear`` averages the trees' probabilities with a logistic regression's (opt-in; by
    default XGBoost is the classifier and no logistic regression is fitted). ``progress`` hears
    of every fit (the final one and one per fold), from the pool's threads.
    """
    params = dict(DEFAULT_PARAMS)
    started = time.perf_counter()
    splits = evaluation_splits(table, seed=seed) if evaluate else {}
    counter = _FitCounter(1 + sum(len(folds) for folds in splits.values()), progress)
    with _pool(n_jobs) as pool:
        final = pool.submit(
            _fit, table.X, table.labels, params=params, seed=seed, blend_linear=blend_linear
        )
        counter.watch(final)
        predictions = (
            _out_of_fold(
                pool,
                table,
                params=params,
                seed=seed,
                blend_linear=blend_linear,
                splits=splits,
                counter=counter,
            )
            if evaluate
            else {}
        )
        fitted = final.result()
    scores = fold_scores(table, predictions)
    temperature = _final_temperature(table, predictions)
    log.info("trained genre model on %d songs in %.1f s", len(table), time.perf_counter() - started)
    identity = json.dumps(
        {
            "table": table.sha256,
            "params": params,
            "seed": seed,
            "calibration": "temperature",
            # The blend and the trees alone must never share a version (the library relabels
            # songs when the version changes).
            "linear": {"kind": "lda+logreg", "C": LOGREG_C} if blend_linear else {"kind": "lda"},
        },
        sort_keys=True,
    )
    return GenreModel(
        classifier=fitted.classifier,
        classes=fitted.classes,
        feature_names=tuple(FEATURE_NAMES),
        version="xgb-" + hashlib.sha256(identity.encode()).hexdigest()[:12],
        table_sha256=table.sha256,
        scores=scores,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        params={**params, "seed": seed, **({"logreg_C": LOGREG_C} if blend_linear else {})},
        temperature=temperature,
        linear=fitted.linear,
    )


def ensure_genre_model(
    model_dir: Path, *, table_path: Path | None = None, progress: FitProgress | None = None
) -> GenreModel:
    """Load the model in ``model_dir``; on first need train it (with evaluation) and save it.

    Trains on ``table_path``, or the bundled GTZAN table; ``progress`` hears of the training's
    fits, and is never called when a saved model is loaded. A lock file serializes concurrent
    callers, so two processes starting together train once and both get the same model. A
    present but corrupt model raises `ModelError` instead of being retrained silently.
    """
    model_dir = Path(model_dir)
    with locked(model_dir / ".genre_model.lock"):
        if (model_dir / META_FILENAME).exists():
            return load_genre_model(model_dir)
        path = bundled_table_path() if table_path is None else Path(table_path)
        log.info("no genre model in %s; training one on %s", model_dir, path)
        model = train_genre_model(load_table(path), evaluate=True, progress=progress)
        save_genre_model(model, model_dir)
        return model
