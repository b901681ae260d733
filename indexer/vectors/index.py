"""Song vectors in memory: a FAISS inner-product index keyed by song id.

Adding, removing and searching, whatever the kind (`indexer.vectors.kinds`); saving and loading
the index with its manifest are `indexer.vectors.store`.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from indexer.errors import StoreError
from indexer.vectors.kinds import (
    IVF_KINDS,
    KIND_FLAT,
    KIND_HNSW,
    LOSSY_KINDS,
    MASKED_ID,
    default_params,
    kind_of,
    new_index,
    padded_dim,
    search_parameters,
    train,
    tune_nprobe,
)


class VectorIndex:
    """Song vectors keyed by song id; inner product of unit vectors is their cosine."""

    def __init__(
        self, index: faiss.Index, *, kind: str | None = None, params: dict[str, Any] | None = None
    ) -> None:
        self._index = index
        self.kind = kind or kind_of(index)
        self.params = dict(params or {})
        self._masked = self._count_masked()
        self._search_params: Any = None
        self._library_params: Any = None

    @classmethod
    def empty(
        cls, dim: int, *, kind: str = KIND_FLAT, params: dict[str, Any] | None = None
    ) -> VectorIndex:
        """An index of ``kind`` with no vectors (an IVF one trains on its first batch)."""
        if kind in IVF_KINDS and not params:
            raise StoreError("an empty IVF index needs its nlist and nprobe; use build()")
        params = default_params(kind, 0) | (params or {})
        return cls(new_index(kind, dim, params), kind=kind, params=params)

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
    ) -> VectorIndex:
        """An index of ``kind`` over all of ``vectors``; IVF centroids are fitted on them."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        given = dict(params or {})
        params = default_params(kind, len(vectors)) | given
        raw = new_index(kind, vectors.shape[1], params)
        train(raw, kind, vectors)
        index = cls(raw, kind=kind, params=params)
        index.add(ids, vectors)
        if kind in IVF_KINDS and "nprobe" not in given and len(vectors):
            nprobe, recall = tune_nprobe(
                raw, np.asarray(ids, dtype=np.int64), vectors, plateau=kind in LOSSY_KINDS
            )
            index.params |= {"nprobe_library": nprobe, "library_recall": round(recall, 4)}
        return index

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal) - self._masked

    @property
    def masked(self) -> int:
        """Removed HNSW nodes still in the graph (always 0 for the other kinds)."""
        return self._masked

    @property
    def faiss_index(self) -> faiss.Index:
        """The underlying FAISS index (for saving)."""
        return self._index

    def _count_masked(self) -> int:
        if self.kind != KIND_HNSW:
            return 0
        return int(np.count_nonzero(self._id_map() == MASKED_ID))

    def _id_map(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def ids(self) -> np.ndarray:
        """Every id in the index, as int64."""
        if self.kind in IVF_KINDS:
            invlists = faiss.extract_index_ivf(self._index).invlists
            parts = [
                faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                for i in range(invlists.nlist)
                if invlists.list_size(i)
            ]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        ids = self._id_map()
        return ids[ids != MASKED_ID]

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add or replace vectors for ``ids`` (IDMap2 would otherwise keep duplicates)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(ids) == 0:
            return
        if vectors.shape != (len(ids), self.dim):
            raise StoreError(
                f"expected vectors of shape {(len(ids), self.dim)}, got {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise StoreError("refusing to index non-finite vectors")
        if (ids < 0).any() or (ids >= 2**62).any():
            raise StoreError("song ids must lie in [0, 2**62)")
        self.remove(ids)
        train(self._index, self.kind, vectors)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove vectors by id; returns how many were removed (HNSW nodes are masked)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0 or len(self) == 0:
            return 0
        if self.kind == KIND_HNSW:
            return self._mask(ids)
        if self.kind in IVF_KINDS:
            # The id hash table of an IVF index removes by an explicit array of ids only.
            return int(self._index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))))
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def _mask(self, ids: np.ndarray) -> int:
        # A graph cannot lose nodes without breaking paths through them: keep the node, give it
        # the id -1 so searches skip it (see search_parameters); compact() drops it for good.
        id_map = self._id_map()
        hit = np.isin(id_map, ids) & (id_map != MASKED_ID)
        removed = int(np.count_nonzero(hit))
        if removed:
            id_map[hit] = MASKED_ID
            faiss.copy_array_to_vector(id_map, self._index.id_map)
            self._index.construct_rev_map()
            self._masked += removed
            self._search_params = None
        return removed

    def compact(self) -> VectorIndex:
        """The same vectors without masked HNSW nodes (a rebuild of the graph); else self."""
        if self._masked == 0:
            return self
        graph = faiss.downcast_index(self._index.index)
        vectors = graph.storage.reconstruct_n(0, graph.ntotal)
        id_map = self._id_map()
        live = id_map != MASKED_ID
        return VectorIndex.build(id_map[live], vectors[live], kind=self.kind, params=self.params)

    @property
    def padded_for_kind(self) -> bool:
        """Whether FAISS holds the vectors at the dimension the kind pads them to
        (`indexer.vectors.kinds.padded_dim`): false for an ``ivf-sq8`` index saved before the
        kind padded, whose queries take FAISS's slow path until it is rebuilt."""
        if self.kind not in IVF_KINDS:
            return True
        return int(faiss.extract_index_ivf(self._index).d) == padded_dim(self.kind, self.dim)

    @property
    def lossy(self) -> bool:
        """Whether stored vectors are approximations of the ones added (`reconstruct` decodes)."""
        return self.kind in LOSSY_KINDS

    def holds(self, song_id: int, vector: np.ndarray) -> bool:
        """Whether ``song_id`` is stored as ``vector`` would be: for a lossy kind, whether
        adding ``vector`` again would store the same bytes (so a sync need not re-add it)."""
        stored = self.reconstruct(song_id)
        if stored is None:
            return False
        if self.lossy:
            vector = self.encode_decode(vector)
        return bool(np.array_equal(stored, vector))

    def encode_decode(self, vector: np.ndarray) -> np.ndarray:
        """``vector`` as this index would store and return it (itself for an exact kind)."""
        row = np.ascontiguousarray(np.atleast_2d(vector), dtype=np.float32)
        if not self.lossy:
            return row[0]
        return self._index.sa_decode(self._index.sa_encode(row))[0]

    def reconstruct(self, song_id: int) -> np.ndarray | None:
        """The stored vector of one song, or None when it is not indexed.

        For a lossy kind this is the decoded approximation (`encode_decode` of the vector
        added): a query made from it lands within the quantiser's step of the song's own.
        """
        if song_id < 0:
            return None
        try:
            return self._index.reconstruct(int(song_id))
        except RuntimeError:
            return None

    def search(
        self, vectors: np.ndarray, *, k: int, library_songs: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)`` per query row; missing slots have id -1.

        ``library_songs``: the queries are vectors of songs in this index. An IVF index tuned at
        build time then scans fewer lists (``nprobe_library``, see `tune_nprobe`); any other
        vector keeps the default ``nprobe``.
        """
        queries = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        k = max(1, min(int(k), max(len(self), 1)))
        if len(self) == 0:
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        if library_songs and "nprobe_library" in self.params:
            if self._library_params is None:
                self._library_params = faiss.SearchParametersIVF(
                    nprobe=int(self.params["nprobe_library"])
                )
            return self._index.search(queries, k, params=self._library_params)
        if self._search_params is None and self._masked:
            self._search_params = search_parameters(self._index, self.kind, masked=self._masked)
        scores, ids = self._index.search(queries, k, params=self._search_params)
        return scores, ids
