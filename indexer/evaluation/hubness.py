"""Hubness of neighbour lists: how unevenly songs turn up as everyone's neighbour.

A statistic of the evaluation; the CSLS scores that counter hubs at query time are
`indexer.recommend.hub_scores`. Kept apart so the genre-table evaluation and the re-ranking
evaluation can both measure it without importing each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def hubness(neighbours: np.ndarray, base_rows: np.ndarray) -> dict[str, Any]:
    """How unevenly the ``base_rows`` appear in the neighbour lists ``neighbours`` [shape=(n, k)].

    Returns the skewness of the k-occurrence counts (0 for an even spread; large values mean a
    few "hub" songs are everyone's neighbour), the share of base songs in nobody's list, and
    the most frequent neighbour with its count.
    """
    counts = np.bincount(neighbours.ravel(), minlength=int(base_rows.max()) + 1)[base_rows]
    counts = counts.astype(np.float64)
    spread = counts.std()
    skew = float(np.mean((counts - counts.mean()) ** 3) / spread**3) if spread > 0 else 0.0
    top = int(np.argmax(counts))
    return {
        "k_occurrence_skewness": skew,
        "never_a_neighbour": float(np.mean(counts == 0)),
        "max_k_occurrence": int(counts[top]),
        "max_k_occurrence_row": int(base_rows[top]),
    }
