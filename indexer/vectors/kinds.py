"""Which FAISS index a library gets, and how each kind is built and searched.

Four kinds, all inner product on unit vectors (cosine):

- ``flat``: exact scan. Best up to about 100k songs (under a millisecond a query).
- ``ivf``: inverted lists of full vectors (IVF-Flat). Only the ``nprobe`` lists nearest to a
  query are scanned, so a million songs cost a fraction of a millisecond; vectors are stored
  exactly, so adding, removing and reconstructing work natively. Chosen automatically above
  the size threshold in the features space because it measured better than HNSW here
  (``bench/search.py``): much faster to build, smaller, and with true removals.
- ``ivf-sq8``: the same inverted lists holding each vector as one byte per dimension (FAISS's
  scalar quantiser, per-dimension ranges, residuals from the list's centre): a quarter of the
  memory, for the 457-d sound space at a million songs (1.8 GB as float32, 0.47 GB here;
  ``bench/search.py --space sound``), and what ``auto`` picks in the sound space. Adding and
  removing work as for ``ivf``; reconstructing returns the decoded vector, within the
  quantiser's step of the one added. FAISS's kernels for one byte per value use SIMD only
  when the dimension is a multiple of 16 (at 457-d a query was ten times slower than at 464):
  the index pads every vector with zeros up to one (`padded_dim`, a FAISS ``Pad``
  transform in front of the lists), so callers keep their own dimension and zeros change no
  cosine.
- ``hnsw``: a navigable small-world graph. Graphs cannot drop nodes, so a removed song's node
  is *masked* (its id is set to -1 and searches skip it) and stays in the graph until the
  index is compacted (rebuilt from its live vectors).
"""

from __future__ import annotations

import math
from typing import Any

import faiss
import numpy as np

from indexer.errors import StoreError
from indexer.model.spaces import SOUND

KIND_FLAT = "flat"
KIND_IVF = "ivf"
KIND_HNSW = "hnsw"
KIND_IVF_SQ8 = "ivf-sq8"
KINDS = (KIND_FLAT, KIND_IVF, KIND_IVF_SQ8, KIND_HNSW)
# Kinds with inverted lists: trained centroids, nlist/nprobe, removal through the id hash table.
IVF_KINDS = (KIND_IVF, KIND_IVF_SQ8)
# Kinds whose stored vectors are not the ones added (reconstruct decodes an approximation).
LOSSY_KINDS = (KIND_IVF_SQ8,)
# The dimensions FAISS's SQ8 kernels have SIMD code for are multiples of this.
SQ8_DIM_MULTIPLE = 16
KIND_AUTO = "auto"

# The approximate kind ``auto`` picks above the threshold, and the one it picks in the sound
# space: 457-d float32 vectors are 1.8 GB at a million songs, a quarter of that as bytes, for a
# small loss of recall (docs/performance.md, "A million songs in the sound space").
APPROX_KIND = KIND_IVF
SOUND_APPROX_KIND = KIND_IVF_SQ8
# Below this many songs an exact scan is fast enough and needs no training.
DEFAULT_APPROX_THRESHOLD = 100_000

# Training points per IVF list: k-means needs about 39 per centroid; more only trains slower.
IVF_TRAIN_PER_LIST = 40
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 128
# An IVF index built from a library scans the fewest lists that find, for songs of that
# library, this share of their exact 10 nearest songs (see tune_nprobe).
IVF_TARGET_RECALL = 0.99
# A compressed index may never reach that target however many lists it scans (its scores are
# approximate): its tuning stops once a rung of the ladder adds less than this recall, provided
# it has reached the floor.
IVF_PLATEAU_GAIN = 0.002
IVF_PLATEAU_FLOOR = 0.95
IVF_TUNING_QUERIES = 500
# Cosines this close count as equal when telling tied neighbours apart (float32 rounding).
TIE_TOLERANCE = 1e-5
NPROBE_LADDER = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
# Mask fraction of an HNSW graph above which a sync compacts it.
HNSW_MAX_MASKED_FRACTION = 0.1

# Ids of masked HNSW nodes; searches accept only ids in [0, 2**62).
MASKED_ID = -1
_LIVE_IDS = (0, 2**62)


def approx_kind(space: str | None) -> str:
    """The approximate kind ``auto`` picks for an index of ``space`` (None: the features')."""
    return SOUND_APPROX_KIND if space == SOUND else APPROX_KIND


def resolve_kind(
    requested: str,
    n: int,
    *,
    threshold: int = DEFAULT_APPROX_THRESHOLD,
    space: str | None = None,
) -> str:
    """The kind for a library of ``n`` songs in ``space``: ``requested`` unless it is ``auto``."""
    if requested == KIND_AUTO:
        return approx_kind(space) if n >= threshold else KIND_FLAT
    if requested not in KINDS:
        raise StoreError(f"unknown index kind {requested!r}; choose from auto, {', '.join(KINDS)}")
    return requested


def target_kind(
    configured: str,
    current: str | None,
    n: int,
    *,
    threshold: int = DEFAULT_APPROX_THRESHOLD,
    space: str | None = None,
) -> str:
    """The kind a sync should leave behind for ``n`` songs, given the index's ``current`` kind.

    An explicit configuration wins. Under ``auto``, a kind chosen by ``rebuild --kind`` stays
    unless the library crosses the threshold: a flat index becomes approximate at
    ``threshold`` songs, and an approximate one becomes flat below half of it (the gap keeps a
    library near the threshold from switching back and forth).
    """
    if configured != KIND_AUTO or current is None:
        return resolve_kind(configured, n, threshold=threshold, space=space)
    if current == KIND_FLAT:
        return approx_kind(space) if n >= threshold else KIND_FLAT
    return current if n >= threshold // 2 else KIND_FLAT


def needs_rebuild(kind: str, params: dict[str, Any], n: int) -> bool:
    """Whether an index of ``kind`` built with ``params`` has outgrown them at ``n`` vectors."""
    if kind not in IVF_KINDS:
        return False
    # Centroids fitted on a much smaller library leave each list too long: refit.
    return default_params(KIND_IVF, n)["nlist"] >= 2 * int(params.get("nlist", 1))


def default_params(kind: str, n: int) -> dict[str, Any]:
    """Build and search parameters for ``n`` vectors; recorded in the manifest."""
    if kind in IVF_KINDS:
        # About 4 sqrt(n) lists, but never fewer training points per list than k-means needs.
        nlist = max(1, min(round(4 * math.sqrt(max(n, 1))), max(n, 1) // 39))
        return {"nlist": nlist, "nprobe": min(nlist, max(32, nlist // 48))}
    if kind == KIND_HNSW:
        return {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH}
    return {}


def padded_dim(kind: str, dim: int) -> int:
    """The dimension FAISS stores vectors of ``dim`` at in an index of ``kind``: for
    ``ivf-sq8`` the next multiple of `SQ8_DIM_MULTIPLE` (its SIMD kernels), else ``dim``."""
    if kind != KIND_IVF_SQ8:
        return dim
    return -(-dim // SQ8_DIM_MULTIPLE) * SQ8_DIM_MULTIPLE


def new_index(kind: str, dim: int, params: dict[str, Any]) -> faiss.Index:
    """An empty FAISS index of ``kind`` for vectors of ``dim`` (an IVF index still needs
    :func:`train`).

    An ``ivf-sq8`` index of a dimension that is not a multiple of 16 is a FAISS ``Pad``
    transform in front of the lists: every vector handed in (to train, add, search, encode) is
    padded with zeros to `padded_dim`, and every vector handed back (reconstruct, decode) loses
    the padding, so the index's ``d`` stays ``dim``.
    """
    if kind == KIND_FLAT:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if kind in IVF_KINDS:
        codes = "SQ8" if kind == KIND_IVF_SQ8 else "Flat"
        padded = padded_dim(kind, dim)
        pad = f"Pad{padded}," if padded != dim else ""
        index = faiss.index_factory(
            dim, f"{pad}IVF{params['nlist']},{codes}", faiss.METRIC_INNER_PRODUCT
        )
        ivf = faiss.extract_index_ivf(index)
        # A hash table from id to list position: reconstruct by id, and remove without a scan.
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        ivf.nprobe = int(params["nprobe"])
        # 10 k-means rounds instead of 25: a million songs train in under a minute, and the
        # recall lost is won back by nprobe (bench/search.py).
        ivf.cp.niter = 10
        return index
    if kind == KIND_HNSW:
        graph = faiss.IndexHNSWFlat(dim, int(params["M"]), faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = int(params["ef_construction"])
        graph.hnsw.efSearch = int(params["ef_search"])
        return faiss.IndexIDMap2(graph)
    raise StoreError(f"unknown index kind {kind!r}")


def train(index: faiss.Index, kind: str, vectors: np.ndarray, *, seed: int = 0) -> None:
    """Fit the IVF centroids (and the scalar quantiser's ranges) on a sample of ``vectors``;
    other kinds need no training."""
    if kind not in IVF_KINDS or index.is_trained:
        return
    nlist = faiss.extract_index_ivf(index).nlist
    if len(vectors) < nlist:
        if len(vectors) == 0:
            return
        raise StoreError(f"an IVF index of {nlist} lists needs at least {nlist} vectors to train")
    sample = vectors
    if len(vectors) > IVF_TRAIN_PER_LIST * nlist:
        rows = np.random.default_rng(seed).choice(
            len(vectors), IVF_TRAIN_PER_LIST * nlist, replace=False
        )
        sample = vectors[np.sort(rows)]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))


def tune_nprobe(
    index: faiss.Index,
    ids: np.ndarray,
    vectors: np.ndarray,
    *,
    k: int = 10,
    target: float = IVF_TARGET_RECALL,
    queries: int = IVF_TUNING_QUERIES,
    seed: int = 0,
    plateau: bool = False,
) -> tuple[int, float]:
    """The fewest lists (of `NPROBE_LADDER`, or all) in which songs of the library find their
    exact top ``k`` with recall ``target``; returns ``(nprobe, recall)``.

    Asking for the neighbours of a library song is what the service does most, and such a
    query sits where the library's songs are, so it needs far fewer lists than the rule of
    thumb of `default_params` (at a million songs drawn like GTZAN: 12 to 24 lists for 0.99,
    against 83). Vectors from outside the library (an upload unlike any song, the centroid of
    several seeds) can fall between the lists' centres and need more: they keep the default.
    A sample of the songs is searched against the exact top ``k`` of a full scan, each song
    itself excluded; a found song counts when its exact cosine reaches the k-th exact one, so a
    song tied with it (equal vectors: the same recording twice) counts as found, and the
    approximate scores of a compressed index cannot make a wrong song look right. With
    ``plateau`` (a compressed index) the ladder also stops, at the rung before, when a rung
    adds less than `IVF_PLATEAU_GAIN` to a recall of at least `IVF_PLATEAU_FLOOR`: the
    quantiser then limits recall, not the lists. ``index`` is left with its ``nprobe``
    unchanged.

    Parameters
    ----------
    index : faiss.Index
        A trained IVF index holding exactly ``ids`` with ``vectors``.
    ids : np.ndarray [shape=(n,)]
    vectors : np.ndarray [shape=(n, dim)]
        Unit vectors, float32.
    """
    ivf = faiss.extract_index_ivf(index)
    if len(ids) <= k:
        return int(ivf.nprobe), 1.0
    rows = np.sort(np.random.default_rng(seed).choice(len(ids), min(queries, len(ids)), False))
    sample = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    own = ids[rows]
    scores, positions = faiss.knn(sample, vectors, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    kth = np.array(
        [
            _without_scores(ids[p], s, o, k)[-1]
            for p, s, o in zip(positions, scores, own, strict=True)
        ]
    )
    order = np.argsort(ids)
    ladder = [p for p in NPROBE_LADDER if p < ivf.nlist] + [int(ivf.nlist)]
    recall, previous = 1.0, None
    for nprobe in ladder:
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        _, found = index.search(sample, k + 1, params=params)
        exact_scores = _exact_scores(sample, found, ids, order, vectors)
        recall = float(
            np.mean(
                [
                    np.count_nonzero(_without_scores(f, s, o, k) >= t - TIE_TOLERANCE) / k
                    for f, s, o, t in zip(found, exact_scores, own, kth, strict=True)
                ]
            )
        )
        if recall >= target:
            return nprobe, recall
        if (
            plateau
            and previous is not None
            and previous[1] >= IVF_PLATEAU_FLOOR
            and recall - previous[1] < IVF_PLATEAU_GAIN
        ):
            return previous
        previous = (nprobe, recall)
    return int(ivf.nlist), recall


def _exact_scores(
    queries: np.ndarray, found: np.ndarray, ids: np.ndarray, order: np.ndarray, vectors: np.ndarray
) -> np.ndarray:
    """Exact cosines of ``queries`` with their ``found`` ids (``order`` sorts ``ids``); -inf for
    the -1 of empty slots."""
    places = order[np.clip(np.searchsorted(ids, found, sorter=order), 0, len(ids) - 1)]
    scores = np.einsum("qd,qkd->qk", queries, vectors[places])
    return np.where(found >= 0, scores, -np.inf).astype(np.float32)


def _without_scores(found: np.ndarray, scores: np.ndarray, own_id: int, k: int) -> np.ndarray:
    """Scores of the first ``k`` results other than ``own_id`` (and the -1 of empty slots)."""
    keep = (found != own_id) & (found >= 0)
    return scores[keep][:k]


def kind_of(index: faiss.Index) -> str:
    """The kind of a FAISS index read from disk."""
    if isinstance(index, faiss.IndexPreTransform):
        return _padded_kind(index)
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    if isinstance(inner, faiss.IndexHNSW):
        return KIND_HNSW
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        if index.sq.qtype != faiss.ScalarQuantizer.QT_8bit:
            raise StoreError(f"unsupported scalar quantiser type {index.sq.qtype}")
        return KIND_IVF_SQ8
    if isinstance(index, faiss.IndexIVFFlat):
        return KIND_IVF
    if isinstance(inner, faiss.IndexFlat):
        return KIND_FLAT
    raise StoreError(f"unsupported FAISS index type {type(inner).__name__}")


def _padded_kind(index: faiss.IndexPreTransform) -> str:
    """The kind of a pre-transformed index: only `new_index`'s zero padding of ``ivf-sq8``."""
    inner = faiss.downcast_index(index.index)
    steps = [faiss.downcast_VectorTransform(index.chain.at(i)) for i in range(index.chain.size())]
    padding = (
        len(steps) == 1
        and isinstance(steps[0], faiss.RemapDimensionsTransform)
        and steps[0].d_out == inner.d >= index.d
        # The first d_in values kept in place, zeros after them (FAISS's non-uniform remap).
        and np.array_equal(
            faiss.vector_to_array(steps[0].map),
            np.r_[np.arange(index.d), np.full(inner.d - index.d, -1)],
        )
    )
    if not padding or kind_of(inner) != KIND_IVF_SQ8:
        raise StoreError("unsupported FAISS index: a transform other than ivf-sq8's padding")
    return KIND_IVF_SQ8


def apply_search_params(index: faiss.Index, kind: str, params: dict[str, Any]) -> None:
    """Set ``nprobe`` or ``efSearch`` from the manifest's parameters."""
    if kind in IVF_KINDS and "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    elif kind == KIND_HNSW and "ef_search" in params:
        faiss.downcast_index(index.index).hnsw.efSearch = int(params["ef_search"])


def search_parameters(index: faiss.Index, kind: str, *, masked: int) -> Any:
    """FAISS search parameters that skip masked HNSW nodes, or None when nothing is masked."""
    if kind != KIND_HNSW or masked == 0:
        return None
    params = faiss.SearchParametersHNSW()
    params.efSearch = faiss.downcast_index(index.index).hnsw.efSearch
    params.sel = faiss.IDSelectorRange(*_LIVE_IDS)
    return params
