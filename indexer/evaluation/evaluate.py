"""Honest numbers for the README and the CLI: how often do similar songs share a genre?

Genre agreement of the nearest neighbours is a proxy for "sounds alike" that GTZAN can score.
The headline split is the artist-filtered one, where the neighbours come from other artists;
leave-one-out over the whole table is reported too but is inflated by same-artist songs and by
the 13 exact-duplicate pairs in GTZAN.
"""

from __future__ import annotations

import time
from typing import Any

import faiss
import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from indexer.errors import ParameterError
from indexer.evaluation.hubness import hubness
from indexer.evaluation.rerank import rerank_report
from indexer.evaluation.walks import walk_report
from indexer.model.calibration import (
    confidence_and_correct,
    ece_noise_floor,
    expected_calibration_error,
)
from indexer.model.genre_cross_validation import evaluation_splits, out_of_fold_predictions
from indexer.model.genre_labels import UNCERTAIN_BELOW
from indexer.model.gtzan_table import FeatureTable, Fold
from indexer.model.scaler import fit_scaler, raw_unit_vectors


def _search(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    _, neighbours = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return neighbours


def neighbour_precision(
    train_vecs: np.ndarray,
    train_labels: np.ndarray,
    test_vecs: np.ndarray,
    test_labels: np.ndarray,
    *,
    k: int,
) -> float:
    """Mean share of each test song's ``k`` nearest training songs that have its genre.

    Parameters
    ----------
    train_vecs : np.ndarray [shape=(n_train, d)]
        Unit rows, so inner product is cosine similarity.
    train_labels : np.ndarray [shape=(n_train,)]
    test_vecs : np.ndarray [shape=(n_test, d)]
    test_labels : np.ndarray [shape=(n_test,)]
    k : int
        Neighbours per test song, 1 <= k <= n_train.
    """
    train_labels = np.asarray(train_labels)
    test_labels = np.asarray(test_labels)
    if not 1 <= k <= len(train_labels):
        raise ParameterError(f"k={k} must be between 1 and the {len(train_labels)} training songs")
    if len(test_labels) == 0:
        raise ParameterError("no test songs")
    neighbours = _search(train_vecs, test_vecs, k)
    return float(np.mean(train_labels[neighbours] == test_labels[:, None]))


def leave_one_out_precision(vecs: np.ndarray, labels: np.ndarray, *, k: int) -> float:
    """`neighbour_precision` of each song against all the others, itself excluded.

    Parameters
    ----------
    vecs : np.ndarray [shape=(n, d)]
        Unit rows.
    labels : np.ndarray [shape=(n,)]
    k : int
        1 <= k < n.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 1 <= k < n:
        raise ParameterError(f"k={k} must be between 1 and {n - 1} (the other songs)")
    neighbours = _search(vecs, vecs, k + 1)
    # Drop the song itself by index, not by rank: an exact duplicate ties with it.
    kept = np.empty((n, k), dtype=neighbours.dtype)
    for i, row in enumerate(neighbours):
        others = row[row != i]
        kept[i] = others[:k]
    return float(np.mean(labels[kept] == labels[:, None]))


METRICS = ("raw_cosine", "standardized_cosine", "lda")
KS = (1, 5, 10)


def _vectors(
    table: FeatureTable, metric: str, X: np.ndarray, *, fit_rows: np.ndarray
) -> np.ndarray:
    if metric == "raw_cosine":
        return raw_unit_vectors(X)
    if metric == "standardized_cosine":
        return fit_scaler(
            table.X[fit_rows], source_sha256=table.sha256, log_variances=False
        ).transform(X)
    scaler = fit_scaler(
        table.X[fit_rows], source_sha256=table.sha256, labels=table.labels[fit_rows], metric="lda"
    )
    return scaler.transform(X)


def _mean_std(values: list[float]) -> dict[str, Any]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "per_fold": values}


def _split_neighbours(
    table: FeatureTable, metric: str, folds: list[Fold], *, k: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold: test rows and their ``k`` nearest training rows (as table row indices)."""
    result = []
    for fold in folds:
        base = _vectors(table, metric, table.X[fold.train], fit_rows=fold.train)
        queries = _vectors(table, metric, table.X[fold.test], fit_rows=fold.train)
        result.append((fold.test, fold.train[_search(base, queries, k)]))
    return result


def neighbour_report(
    table: FeatureTable, folds: list[Fold], *, ks: tuple[int, ...] = KS
) -> dict[str, Any]:
    """Precision@k (mean ± std over folds) and hubness at the largest k, for every metric."""
    k_max = max(ks)
    report: dict[str, Any] = {}
    for metric in METRICS:
        per_fold = _split_neighbours(table, metric, folds, k=k_max)
        entry: dict[str, Any] = {}
        for k in ks:
            entry[f"precision@{k}"] = _mean_std(
                [
                    float(np.mean(table.labels[nb[:, :k]] == table.labels[test][:, None]))
                    for test, nb in per_fold
                ]
            )
        hubs = []
        for (_, nb), fold in zip(per_fold, folds, strict=True):
            h = hubness(nb, fold.train)
            h["max_k_occurrence_song"] = table.filenames[h.pop("max_k_occurrence_row")]
            hubs.append(h)
        entry[f"hubness@{k_max}"] = hubs
        report[metric] = entry
    return report


def genre_report(table: FeatureTable, folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, macro-F1 and ECE per fold (mean ± std), and pooled per-genre scores.

    ``folds`` come from `out_of_fold_predictions`; every test song is predicted by a model that
    never saw it, with a temperature fitted on other folds. ``ece_floor`` (per fold) and
    ``ece_pooled_floor`` are the ECE a perfectly calibrated model would show on as many songs
    (`ece_noise_floor`, 300 label draws with seed 0): an ECE within about a std of its floor is
    sampling noise, not miscalibration.
    """
    classes = [str(c) for c in np.unique(table.labels)]
    accuracy, macro_f1, ece, ece_raw, floor = [], [], [], [], []
    for fold in folds:
        y = np.searchsorted(classes, table.labels[fold["test"]])
        predicted = fold["calibrated"].argmax(axis=1)
        accuracy.append(float(np.mean(predicted == y)))
        macro_f1.append(float(f1_score(y, predicted, labels=range(len(classes)), average="macro")))
        ece.append(expected_calibration_error(fold["calibrated"], y))
        ece_raw.append(expected_calibration_error(fold["raw"], y))
        floor.append(ece_noise_floor(fold["calibrated"])[0])
    y = np.searchsorted(classes, np.concatenate([table.labels[f["test"]] for f in folds]))
    calibrated = np.vstack([f["calibrated"] for f in folds])
    raw = np.vstack([f["raw"] for f in folds])
    predicted = calibrated.argmax(axis=1)
    precision, recall, _, _ = precision_recall_fscore_support(
        y, predicted, labels=range(len(classes)), zero_division=0
    )
    confidence, correct = confidence_and_correct(calibrated, y)
    sure = confidence >= UNCERTAIN_BELOW
    pooled_floor, pooled_floor_std = ece_noise_floor(calibrated)
    return {
        "accuracy": _mean_std(accuracy),
        "macro_f1": _mean_std(macro_f1),
        "ece": _mean_std(ece),
        "ece_uncalibrated": _mean_std(ece_raw),
        "ece_pooled": expected_calibration_error(calibrated, y),
        "ece_pooled_uncalibrated": expected_calibration_error(raw, y),
        "ece_floor": _mean_std(floor),
        "ece_pooled_floor": {"mean": pooled_floor, "std_over_draws": pooled_floor_std},
        "temperatures": [f["temperature"] for f in folds],
        "per_genre": {
            c: {"precision": float(p), "recall": float(r)}
            for c, p, r in zip(classes, precision, recall, strict=True)
        },
        "classes": classes,
        "confusion": confusion_matrix(y, predicted, labels=range(len(classes))).tolist(),
        "uncertain_below": UNCERTAIN_BELOW,
        "uncertain_share": float(np.mean(~sure)),
        "accuracy_when_sure": float(np.mean(correct[sure])) if sure.any() else None,
        "accuracy_when_uncertain": float(np.mean(correct[~sure])) if (~sure).any() else None,
        "_reliability": {"confidence": confidence.tolist(), "correct": correct.tolist()},
    }


def evaluate_table(
    table: FeatureTable,
    *,
    seed: int = 0,
    n_jobs: int | None = None,
    blend_linear: bool = False,
) -> dict[str, Any]:
    """Neighbour precision@1/5/10 and hubness per metric, the genre model's scores, what
    query-time re-ranking does to artists, duplicates and hubs (`indexer.evaluation.rerank`), and
    how smooth paths and playlists through the table are (`indexer.evaluation.walks`).

    Both on the honest split (the bundled artist-filtered GTZAN folds, or group K-fold on the
    table's ``group`` column) and on stratified K-fold, which is optimistic because an artist's
    songs land on both sides. Test songs are searched against that fold's training songs;
    every scaler, projection and model is fitted on the training rows only. The walks are not
    a held-out score: they go through a library of every row, in a metric fitted on them all.
    ``blend_linear`` scores the opt-in blend of the trees with a logistic regression instead
    of the default genre model (XGBoost alone).

    Returns a plain JSON-serializable dict. Keys starting with ``_`` hold per-song values for
    the figures.
    """
    started = time.perf_counter()
    splits = evaluation_splits(table, seed=seed)
    predictions = out_of_fold_predictions(
        table, seed=seed, n_jobs=n_jobs, blend_linear=blend_linear
    )
    result: dict[str, Any] = {
        "table_sha256": table.sha256,
        "n_songs": len(table),
        "genre_model": "xgboost + logistic regression" if blend_linear else "xgboost",
        "splits": {name: len(folds) for name, folds in splits.items()},
        "neighbours": {name: neighbour_report(table, folds) for name, folds in splits.items()},
        "genre": {name: genre_report(table, predictions[name]) for name in splits},
        "reranking": {name: rerank_report(table, folds) for name, folds in splits.items()},
        "walks": walk_report(table, seed=seed, n_jobs=n_jobs),
    }
    result["seconds"] = time.perf_counter() - started
    return result
