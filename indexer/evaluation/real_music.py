"""Scores of a song space on real music, where the only label is the group a track came from.

GTZAN's genres are what the default metric was fitted to, so GTZAN cannot tell whether a space
hears the rest of the world's music. A folder of albums or soundtracks can: tracks of one group
share a composer and a style, so a good space puts them near each other. Three numbers, each on
unit vectors (inner product is cosine) and each with what chance would score beside it:

- group precision@k: the share of a track's k nearest other tracks that are of its group;
- excerpt self-retrieval: two disjoint excerpts of every long track, all excerpts in one pool;
  is the other excerpt of the same track the nearest (@1), or among the nearest five? A space
  that saturates (every track of a style at one point) fails this even when precision is high;
- hubness: the skewness of the k-occurrence (`evaluation.hubness`), since a space where
  a few tracks are everyone's neighbour makes poor lists whatever its precision.

Anything fitted to the corpus (a scaler's mean, a projection) has seen the answers; for that,
`leave_one_group_out` fits on every group but one and asks only the held-out group's queries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faiss
import numpy as np

from indexer.errors import ParameterError
from indexer.evaluation.hubness import hubness

KS = (1, 5, 10)
HUB_K = 10
EXCERPT_RECALL_K = 5

# Fitted on (rows, groups) of the training groups; maps any rows to unit vectors.
Transform = Callable[[np.ndarray], np.ndarray]
Fitter = Callable[[np.ndarray, np.ndarray], Transform]


def nearest_others(vecs: np.ndarray, *, k: int, queries: np.ndarray | None = None) -> np.ndarray:
    """Row indices of the ``k`` nearest rows to each query row, the query itself left out.

    Parameters
    ----------
    vecs : np.ndarray [shape=(n, d)]
        Unit rows: the whole pool.
    k : int
        1 <= k < n.
    queries : np.ndarray [shape=(n_q,)], optional
        Row indices that ask; every row by default.

    Returns
    -------
    np.ndarray [shape=(n_q, k), dtype=int64]
    """
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    n = len(vecs)
    if not 1 <= k < n:
        raise ParameterError(f"k={k} must be between 1 and {n - 1} (the other rows)")
    rows = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    _, found = index.search(vecs[rows], k + 1)
    # Leave the query out by index, not by rank: an exact duplicate ties with it.
    kept = np.empty((len(rows), k), dtype=np.int64)
    for i, (row, candidates) in enumerate(zip(rows, found, strict=True)):
        kept[i] = candidates[candidates != row][:k]
    return kept


def _precision_hits(
    vecs: np.ndarray, groups: np.ndarray, queries: np.ndarray, *, k: int
) -> np.ndarray:
    """[shape=(n_q, k)] booleans: is each of a query's neighbours of its group."""
    neighbours = nearest_others(vecs, k=k, queries=queries)
    return groups[neighbours] == groups[queries][:, None]


def _chance(groups: np.ndarray, queries: np.ndarray) -> float:
    """Expected precision of random neighbours: per query, its group's other tracks / others."""
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    return float(np.mean((sizes[inverse[queries]] - 1) / (len(groups) - 1)))


def _precision_entry(hits: np.ndarray, chance: float, ks: tuple[int, ...]) -> dict[str, Any]:
    return {f"precision@{k}": {"value": float(hits[:, :k].mean()), "chance": chance} for k in ks}


def group_precision(
    vecs: np.ndarray,
    groups: np.ndarray,
    *,
    ks: tuple[int, ...] = KS,
    queries: np.ndarray | None = None,
) -> dict[str, Any]:
    """Precision@k of each track's nearest other tracks, with chance beside each.

    Parameters
    ----------
    vecs : np.ndarray [shape=(n, d)]
        Unit rows, one per track.
    groups : np.ndarray [shape=(n,)]
        The label of each track (its soundtrack, album or artist).
    ks : tuple[int, ...]
        Each 1 <= k < n.
    queries : np.ndarray [shape=(n_q,)], optional
        Row indices that ask (all rows by default); they search the whole pool.

    Returns
    -------
    dict
        ``{"precision@k": {"value": v, "chance": c}, ...}``. The chance level is the same for
        every k: for each query, (size of its group - 1) / (n - 1), averaged.
    """
    groups = np.asarray(groups)
    rows = np.arange(len(groups)) if queries is None else np.asarray(queries, dtype=np.int64)
    hits = _precision_hits(vecs, groups, rows, k=max(ks))
    return _precision_entry(hits, _chance(groups, rows), ks)


def per_group_precision(
    vecs: np.ndarray, groups: np.ndarray, *, ks: tuple[int, ...] = KS
) -> dict[str, dict[str, Any]]:
    """`group_precision` of each group's own tracks (they search the whole pool).

    Returns
    -------
    dict
        ``{group: {"n_tracks": m, "chance": c, "precision@k": v, ...}}``, where the chance is
        (m - 1) / (n - 1): a group's share of the other tracks. The spread over groups shows
        whether one album carries the average or every album is heard.
    """
    groups = np.asarray(groups)
    hits = _precision_hits(vecs, groups, np.arange(len(groups)), k=max(ks))
    breakdown: dict[str, dict[str, Any]] = {}
    for name in np.unique(groups):
        rows = groups == name
        breakdown[str(name)] = {
            "n_tracks": int(rows.sum()),
            "chance": float((rows.sum() - 1) / (len(groups) - 1)),
            **{f"precision@{k}": float(hits[rows, :k].mean()) for k in ks},
        }
    return breakdown


def _excerpt_ranks(
    vecs: np.ndarray, tracks: np.ndarray, queries: np.ndarray, *, k: int
) -> np.ndarray:
    """For each query excerpt, the rank (0-based) of its track's other excerpt, or k if absent."""
    neighbours = nearest_others(vecs, k=k, queries=queries)
    same = tracks[neighbours] == tracks[queries][:, None]
    return np.where(same.any(axis=1), same.argmax(axis=1), k)


def _check_pairs(tracks: np.ndarray) -> None:
    _, counts = np.unique(tracks, return_counts=True)
    if len(counts) < 2 or (counts != 2).any():
        raise ParameterError("excerpt retrieval needs two excerpts of each of at least two tracks")


def _excerpt_entry(ranks: np.ndarray, n_excerpts: int, *, k: int) -> dict[str, Any]:
    others = n_excerpts - 1
    return {
        "excerpt@1": {"value": float(np.mean(ranks == 0)), "chance": 1 / others},
        f"recall@{k}": {"value": float(np.mean(ranks < k)), "chance": min(k, others) / others},
        "n_excerpts": int(n_excerpts),
    }


def excerpt_retrieval(
    vecs: np.ndarray,
    tracks: np.ndarray,
    *,
    k: int = EXCERPT_RECALL_K,
    queries: np.ndarray | None = None,
) -> dict[str, Any]:
    """Does an excerpt find the other excerpt of its own track among all excerpts?

    Parameters
    ----------
    vecs : np.ndarray [shape=(2m, d)]
        Unit rows: two disjoint excerpts of each of m tracks, all in one pool.
    tracks : np.ndarray [shape=(2m,)]
        Which track each excerpt is of; every value occurs exactly twice.
    k : int
        Depth of the recall.
    queries : np.ndarray [shape=(n_q,)], optional
        Excerpt rows that ask (all by default).

    Returns
    -------
    dict
        ``excerpt@1`` (the other excerpt is the nearest) and ``recall@k`` (it is among the
        ``k`` nearest), each as ``{"value", "chance"}``, and ``n_excerpts``.
    """
    tracks = np.asarray(tracks)
    _check_pairs(tracks)
    rows = np.arange(len(tracks)) if queries is None else np.asarray(queries, dtype=np.int64)
    depth = min(k, len(tracks) - 1)
    return _excerpt_entry(_excerpt_ranks(vecs, tracks, rows, k=depth), len(tracks), k=k)


def k_occurrence_hubness(vecs: np.ndarray, *, k: int = HUB_K) -> dict[str, Any]:
    """`evaluation.hubness` of the pool's own k-nearest-neighbour lists (self left out)."""
    neighbours = nearest_others(vecs, k=k)
    return {"k": k, **hubness(neighbours, np.arange(len(vecs)))}


def space_report(
    vecs: np.ndarray,
    groups: np.ndarray,
    *,
    excerpt_vecs: np.ndarray | None = None,
    excerpt_tracks: np.ndarray | None = None,
    ks: tuple[int, ...] = KS,
    hub_k: int = HUB_K,
    per_group: bool = False,
) -> dict[str, Any]:
    """Group precision, excerpt self-retrieval (when excerpts are given) and hubness of a space.

    Parameters
    ----------
    vecs : np.ndarray [shape=(n, d)]
        Unit rows, one per track.
    groups : np.ndarray [shape=(n,)]
    excerpt_vecs : np.ndarray [shape=(2m, d)], optional
        Unit rows of two excerpts per long track, in the same space.
    excerpt_tracks : np.ndarray [shape=(2m,)], optional
        Which track each excerpt is of.
    per_group : bool
        Also give each group's own precision (`per_group_precision`) under ``per_group``.
    """
    report: dict[str, Any] = {
        "n_tracks": len(vecs),
        "n_groups": len(np.unique(groups)),
        **group_precision(vecs, groups, ks=ks),
    }
    if excerpt_vecs is not None:
        if excerpt_tracks is None:
            raise ParameterError("excerpt_vecs needs excerpt_tracks")
        report["excerpts"] = excerpt_retrieval(excerpt_vecs, excerpt_tracks)
    report["hubness"] = k_occurrence_hubness(vecs, k=min(hub_k, len(vecs) - 1))
    if per_group:
        report["per_group"] = per_group_precision(vecs, groups, ks=ks)
    return report


def leave_one_group_out(
    fit: Fitter,
    X: np.ndarray,
    groups: np.ndarray,
    *,
    excerpts: np.ndarray | None = None,
    excerpt_tracks: np.ndarray | None = None,
    ks: tuple[int, ...] = KS,
) -> dict[str, Any]:
    """Scores of a fitted space where no track is scored by a fit that saw its group.

    For each group g in turn, ``fit(X[others], groups[others])`` returns a transform; every
    track (and every excerpt) is mapped with it, and only g's tracks (and g's excerpts) ask,
    against the whole pool. Each track asks exactly once, so the scores pooled over all folds
    are comparable with `group_precision` and `excerpt_retrieval` on a space fitted once.
    Hubness is left out: it describes one space, and here every fold has its own.

    Parameters
    ----------
    fit : callable
        ``fit(rows, row_groups) -> transform``; ``transform(rows)`` returns unit vectors.
    X : np.ndarray [shape=(n, n_features)]
        The tracks' unfitted rows (raw features, say).
    groups : np.ndarray [shape=(n,)]
        At least two groups.
    excerpts : np.ndarray [shape=(2m, n_features)], optional
        Unfitted rows of two excerpts per long track.
    excerpt_tracks : np.ndarray [shape=(2m,)], optional
        Row index into ``X`` of the track each excerpt is of.

    Returns
    -------
    dict
        Like `space_report` without hubness, plus ``per_group``: each held-out group's own
        precision@k (the folds' spread).
    """
    groups = np.asarray(groups)
    names = np.unique(groups)
    if len(names) < 2:
        raise ParameterError("leave-one-group-out needs at least two groups")
    if excerpts is not None:
        if excerpt_tracks is None:
            raise ParameterError("excerpts need excerpt_tracks")
        excerpt_tracks = np.asarray(excerpt_tracks)
        _check_pairs(excerpt_tracks)
    k_max, hits, ranks, per_group = max(ks), [], [], {}
    queries = []
    for name in names:
        held_out = np.flatnonzero(groups == name)
        transform = fit(X[groups != name], groups[groups != name])
        fold_hits = _precision_hits(transform(X), groups, held_out, k=k_max)
        hits.append(fold_hits)
        queries.append(held_out)
        per_group[str(name)] = {f"precision@{k}": float(fold_hits[:, :k].mean()) for k in ks}
        if excerpts is not None:
            asking = np.flatnonzero(groups[excerpt_tracks] == name)
            if len(asking):
                depth = min(EXCERPT_RECALL_K, len(excerpts) - 1)
                ranks.append(_excerpt_ranks(transform(excerpts), excerpt_tracks, asking, k=depth))
    report: dict[str, Any] = {
        "n_tracks": len(X),
        "n_groups": len(names),
        **_precision_entry(np.vstack(hits), _chance(groups, np.concatenate(queries)), ks),
    }
    if excerpts is not None:
        report["excerpts"] = _excerpt_entry(
            np.concatenate(ranks), len(excerpts), k=EXCERPT_RECALL_K
        )
    report["per_group"] = per_group
    return report
