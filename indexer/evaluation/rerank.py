"""What re-ranking does to the lists on GTZAN: artists shown, duplicates, hubs, genre precision.

Each fold's test songs are queried against its training songs, as in
`indexer.evaluation.evaluate`: the metric is fitted on the training songs, 50 candidates are
fetched per query (the depth the service fetches for k=10), and each setting of
`indexer.recommend.rerank` picks the top 10. Songs carry their artist (from the artist-filtered
split's lists) and a duration of 30 s, so the duplicate rule is decided by the cosine alone.
Plain kNN is the first setting.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from indexer.evaluation.hubness import hubness
from indexer.model.gtzan_table import FeatureTable, Fold, artist_ids
from indexer.model.scaler import fit_scaler
from indexer.recommend.duplicates import DUPLICATE_COSINE, SongTraits
from indexer.recommend.hub_scores import HUB_K
from indexer.recommend.rerank import Anchor, Candidate, RerankOptions, rerank

K = 10
DEPTH = 50
GTZAN_CLIP_S = 30.0

SETTINGS: dict[str, RerankOptions] = {
    "plain_knn": RerankOptions(),
    "dedupe": RerankOptions(dedupe=True),
    "max_per_artist_2": RerankOptions(max_per_artist=2),
    "mmr_0.7": RerankOptions(mmr_lambda=0.7),
    "hubness_csls": RerankOptions(hubness=True),
    "dedupe_artist_2_csls": RerankOptions(dedupe=True, max_per_artist=2, hubness=True),
}


def _fold_lists(
    table: FeatureTable, fold: Fold, artists: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The training and test vectors, and per setting each test row's top-``K`` training rows
    [shape=(n_test, K)], -1 where a list came out shorter."""
    scaler = fit_scaler(
        table.X[fold.train],
        source_sha256=table.sha256,
        labels=table.labels[fold.train],
        metric="lda",
    )
    base = scaler.transform(table.X[fold.train])
    queries = scaler.transform(table.X[fold.test])
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    scores, rows = index.search(queries, min(DEPTH, len(base)))
    own_scores, own_rows = index.search(base, min(HUB_K + 1, len(base)))
    hub = {
        i: float(np.mean([s for s, j in zip(own_scores[i], own_rows[i], strict=True) if j != i]))
        for i in range(len(base))
    }
    traits = [
        SongTraits(title=table.filenames[row], artist=artists[row], duration_s=GTZAN_CLIP_S)
        for row in range(len(table))
    ]
    result: dict[str, np.ndarray] = {}
    for name, options in SETTINGS.items():
        lists = np.full((len(fold.test), K), -1, dtype=np.intp)
        for q, test_row in enumerate(fold.test):
            candidates = [
                Candidate(
                    id=int(j),
                    score=float(s),
                    vector=base[j],
                    traits=traits[fold.train[j]],
                    album=None,
                    genre=None,
                    tempo_bpm=0.0,
                )
                for s, j in zip(scores[q], rows[q], strict=True)
                if j >= 0
            ]
            anchor = Anchor(None, queries[q], traits[test_row])
            kept, _ = rerank(candidates, k=K, options=options, anchors=[anchor], hub=hub)
            lists[q, : len(kept)] = [c.id for c in kept]
        result[name] = lists
    return base, queries, result


def _list_scores(
    table: FeatureTable,
    fold: Fold,
    artists: np.ndarray,
    lists: np.ndarray,
    base: np.ndarray,
    queries: np.ndarray,
) -> dict[str, float]:
    distinct, duplicated, correct, full = [], [], [], []
    for q, row in enumerate(lists):
        row = row[row >= 0]
        full.append(len(row))
        distinct.append(len(set(artists[fold.train[row]])))
        correct.append(np.mean(table.labels[fold.train[row]] == table.labels[fold.test[q]]))
        vectors = np.vstack([queries[q], base[row]]).astype(np.float64)
        cosine = vectors @ vectors.T
        np.fill_diagonal(cosine, 0.0)
        duplicated.append(bool((cosine >= DUPLICATE_COSINE).any()))
    return {
        "distinct_artists@10": float(np.mean(distinct)),
        "duplicate_rate": float(np.mean(duplicated)),
        "precision@10": float(np.mean(correct)),
        "mean_length": float(np.mean(full)),
    }


def rerank_report(table: FeatureTable, folds: list[Fold]) -> dict[str, Any]:
    """Per setting: list scores averaged over folds and the k-occurrence skewness of hubs.

    ``duplicate_rate`` is the share of queries whose list holds a near-duplicate pair (the
    query and a neighbour, or two neighbours); ``hub_skewness@10`` is `hubness`'s skewness of
    how often each training song is listed (0 = even).
    """
    artists = artist_ids(table)
    per_setting: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for fold in folds:
        base, queries, per_list = _fold_lists(table, fold, artists)
        for name, lists in per_list.items():
            scores = _list_scores(table, fold, artists, lists, base, queries)
            listed = lists[lists >= 0]
            skew = hubness(fold.train[listed][:, None], fold.train)["k_occurrence_skewness"]
            scores["hub_skewness@10"] = skew
            per_setting[name].append(scores)
    return {
        name: {key: float(np.mean([f[key] for f in folds_])) for key in folds_[0]}
        for name, folds_ in per_setting.items()
    }
