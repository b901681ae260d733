"""Honest numbers for the README and the CLI: how often do similar songs share a genre?

Genre agreement of the nearest neighbours is a proxy for "sounds alike" that GTZAN can score.
The headline split is the artist-filtered one, where the neighbours come from other artists;
leave-one-out over the whole table is reported too but is inflated by same-artist songs and by
the 13 exact-duplicate pairs in GTZAN.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from indexer.genre import cross_validate_genre
from indexer.scaler import fit_scaler, raw_unit_vectors
from indexer.table import FeatureTable, artist_filter_folds, has_artist_filter_split


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
        raise ValueError(f"k={k} must be between 1 and the {len(train_labels)} training songs")
    if len(test_labels) == 0:
        raise ValueError("no test songs")
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
        raise ValueError(f"k={k} must be between 1 and {n - 1} (the other songs)")
    neighbours = _search(vecs, vecs, k + 1)
    # Drop the song itself by index, not by rank: an exact duplicate ties with it.
    kept = np.empty((n, k), dtype=neighbours.dtype)
    for i, row in enumerate(neighbours):
        others = row[row != i]
        kept[i] = others[:k]
    return float(np.mean(labels[kept] == labels[:, None]))


def _vectors(
    table: FeatureTable, metric: str, X: np.ndarray, *, fit_rows: np.ndarray
) -> np.ndarray:
    if metric == "raw_cosine":
        return raw_unit_vectors(X)
    return fit_scaler(fit_rows, source_sha256=table.sha256).transform(X)


def _mean_std(values: list[float]) -> dict[str, Any]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "per_fold": values}


def evaluate_table(
    table: FeatureTable, *, k: int = 5, seed: int = 0, n_jobs: int | None = None
) -> dict[str, Any]:
    """Neighbour genre precision@k (raw vs standardized cosine) and genre-model accuracy.

    Precision@k:

    - ``artist_filter``: each test song of a fold against that fold's training songs; the
      scaler is fitted on the training rows only. Mean and population std over the 3 folds.
      Present only when the table holds the bundled GTZAN split.
    - ``leave_one_out``: each song against all the other rows; the scaler is fitted on all
      rows (each song's own values move the mean and std by 1/n, which is negligible next to
      the same-artist and duplicate songs that inflate this number anyway).

    Genre accuracy comes from `cross_validate_genre`: the artist-filtered (or group) split and
    stratified 5-fold, with the model refitted on each fold's training rows.

    Returns a plain JSON-serializable dict.
    """
    result: dict[str, Any] = {"table_sha256": table.sha256, "n_songs": len(table), "k": k}
    folds = artist_filter_folds(table) if has_artist_filter_split(table) else []
    precision: dict[str, dict[str, Any]] = {}
    for metric in ("raw_cosine", "standardized_cosine"):
        precision[metric] = {}
        if folds:
            per_fold = []
            for fold in folds:
                fit_rows = table.X[fold.train]
                per_fold.append(
                    neighbour_precision(
                        _vectors(table, metric, table.X[fold.train], fit_rows=fit_rows),
                        table.labels[fold.train],
                        _vectors(table, metric, table.X[fold.test], fit_rows=fit_rows),
                        table.labels[fold.test],
                        k=k,
                    )
                )
            precision[metric]["artist_filter"] = _mean_std(per_fold)
        precision[metric]["leave_one_out"] = leave_one_out_precision(
            _vectors(table, metric, table.X, fit_rows=table.X), table.labels, k=k
        )
    result["neighbour_precision"] = precision

    accuracy = {}
    for split, scores in cross_validate_genre(table, seed=seed, n_jobs=n_jobs).items():
        accuracy[split] = {
            "mean": scores["accuracy_mean"],
            "std": scores["accuracy_std"],
            "per_fold": scores["accuracy"],
        }
    result["genre_accuracy"] = accuracy
    return result
