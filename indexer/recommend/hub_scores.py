"""Each song's mean cosine to its own nearest songs, for hubness correction (CSLS).

Some songs ("hubs") sit close to everything and turn up in most lists. CSLS (Conneau et al.,
2018) ranks a candidate x for a query q by ``2 cos(q, x) - r(x) - r(q)``, where ``r`` is the
mean cosine to one's own ``k`` nearest songs: a hub's high ``r`` pays for its closeness.

``r`` is computed lazily, only for songs that appear as candidates, with one batched index
search per query for those not seen yet, and kept until the index generation changes. A warm
service therefore pays a dictionary look-up per candidate; a library of n songs never needs the
full n x n neighbour pass.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from indexer.vectors.index import VectorIndex

HUB_K = 10


class HubCache:
    """``r(x)`` per song id for one index generation; thread-safe, bounded."""

    def __init__(self, *, k: int = HUB_K, max_entries: int = 1_000_000) -> None:
        self.k = k
        self.max_entries = max_entries
        self._generation: int | None = None
        self._values: dict[int, float] = {}
        self._lock = threading.Lock()

    def mean_similarity(
        self, index: VectorIndex, ids: Sequence[int], *, generation: int
    ) -> dict[int, float]:
        """``r`` for each of ``ids`` (ids missing from the index are left out)."""
        with self._lock:
            if generation != self._generation or len(self._values) > self.max_entries:
                self._generation, self._values = generation, {}
            missing = [i for i in ids if i not in self._values]
            if missing:
                self._values.update(_compute(index, missing, k=self.k))
            return {i: self._values[i] for i in ids if i in self._values}


def _compute(index: VectorIndex, ids: list[int], *, k: int) -> dict[int, float]:
    rows, found = [], []
    for song_id in ids:
        vector = index.reconstruct(song_id)
        if vector is not None:
            rows.append(vector)
            found.append(song_id)
    if not rows or len(index) < 2:
        return {i: 0.0 for i in found}
    depth = min(k + 1, len(index))
    scores, neighbour_ids = index.search(np.vstack(rows), k=depth)
    result = {}
    for song_id, row_scores, row_ids in zip(found, scores, neighbour_ids, strict=True):
        # The song itself is excluded by id: a duplicate ties with it at cosine 1.
        others = [
            float(s) for s, i in zip(row_scores, row_ids, strict=True) if i >= 0 and i != song_id
        ]
        result[song_id] = float(np.mean(others[:k])) if others else 0.0
    return result
