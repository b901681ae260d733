"""The ``ivf-sq8`` kind pads vectors with zeros to a multiple of 16 inside the index.

FAISS's one-byte-per-value kernels use SIMD only at such dimensions. The padding is the
kind's business: FAISS holds the padded vectors, while the caller adds, searches and gets back
vectors of its own dimension (the 57 features, the 457 sound values).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer.errors import StoreError
from indexer.library import Library
from indexer.model.spaces import FEATURES
from indexer.settings import Settings
from indexer.vectors.index import VectorIndex
from indexer.vectors.kinds import kind_of, padded_dim
from indexer.vectors.store import load_index, save_index
from tests.helpers import SPACE_SONGS, clustered_rows, gtzan_row, space_records

# The quantiser's step on a cosine: one byte per value over each dimension's range.
SQ8_ATOL = 0.02


@pytest.fixture(scope="module", params=[57, 457])
def padded(request: pytest.FixtureRequest) -> tuple[np.ndarray, VectorIndex]:
    vectors = clustered_rows(3000, dim=request.param)
    return vectors, VectorIndex.build(np.arange(len(vectors)) * 7, vectors, kind="ivf-sq8")


def stored_dim(index: VectorIndex) -> int:
    """The dimension FAISS's inverted lists hold."""
    return int(faiss.extract_index_ivf(index.faiss_index).d)


def test_faiss_holds_a_multiple_of_16_while_the_index_keeps_the_callers_dimension(
    padded: tuple[np.ndarray, VectorIndex],
) -> None:
    vectors, index = padded
    dim = vectors.shape[1]
    assert index.dim == dim
    assert stored_dim(index) % 16 == 0
    assert dim < stored_dim(index) < dim + 16
    assert stored_dim(index) == padded_dim("ivf-sq8", dim)
    assert index.padded_for_kind

    # What comes back has the caller's dimension and is the vector added, within a step.
    back = index.reconstruct(7 * 5)
    assert back is not None
    assert back.shape == (dim,)
    np.testing.assert_allclose(back, vectors[5], atol=SQ8_ATOL)
    np.testing.assert_array_equal(index.encode_decode(vectors[5]), back)
    assert index.holds(7 * 5, vectors[5])
    assert not index.holds(7 * 5, vectors[6])
    with pytest.raises(StoreError, match="expected vectors of shape"):
        index.add(np.array([1]), np.zeros((1, stored_dim(index)), np.float32))


def test_search_finds_what_an_exact_flat_search_finds(
    padded: tuple[np.ndarray, VectorIndex],
) -> None:
    vectors, index = padded
    ids = np.arange(len(vectors)) * 7
    queries = clustered_rows(100, seed=1, dim=vectors.shape[1])
    # Every list scanned: only the quantiser stands between this search and the exact one.
    faiss.extract_index_ivf(index.faiss_index).nprobe = index.params["nlist"]
    try:
        scores, found = index.search(queries, k=10)
    finally:
        faiss.extract_index_ivf(index.faiss_index).nprobe = index.params["nprobe"]
    exact = queries @ vectors.T
    top = np.sort(exact, axis=1)[:, ::-1][:, :10]
    # Each song found scores its exact cosine, and the k-th found is as near as the exact k-th.
    np.testing.assert_allclose(scores, exact[np.arange(100)[:, None], found // 7], atol=SQ8_ATOL)
    np.testing.assert_allclose(scores[:, -1], top[:, -1], atol=SQ8_ATOL)
    truth = ids[np.argsort(-exact, axis=1)[:, :10]]
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.95


def test_the_padding_survives_a_save_and_a_memory_mapped_load(
    padded: tuple[np.ndarray, VectorIndex], tmp_path: Path
) -> None:
    vectors, index = padded
    manifest = save_index(index, tmp_path, scaler_version="s", model_version=None, synced_at=None)
    assert manifest.dim == vectors.shape[1]
    loaded, _ = load_index(tmp_path, mmap=True)
    assert (loaded.kind, loaded.dim, stored_dim(loaded)) == (
        "ivf-sq8",
        index.dim,
        stored_dim(index),
    )
    np.testing.assert_array_equal(
        loaded.search(vectors[:20], k=5)[1], index.search(vectors[:20], k=5)[1]
    )


def test_a_multiple_of_16_is_not_padded() -> None:
    vectors = clustered_rows(1000, dim=64)
    index = VectorIndex.build(np.arange(1000), vectors, kind="ivf-sq8")
    assert isinstance(index.faiss_index, faiss.IndexIVFScalarQuantizer)
    assert index.dim == stored_dim(index) == 64


def test_an_index_saved_before_the_padding_is_read_but_marked() -> None:
    # What an older version wrote for ivf-sq8 at 57-d: the lists at 57, FAISS's slow path.
    raw = faiss.index_factory(57, "IVF4,SQ8", faiss.METRIC_INNER_PRODUCT)
    old = VectorIndex(raw, params={"nlist": 4, "nprobe": 4})
    old.add(np.arange(200), clustered_rows(200))
    assert (old.kind, old.dim) == ("ivf-sq8", 57)
    assert not old.padded_for_kind


def test_a_transform_other_than_the_padding_is_refused() -> None:
    raw = faiss.index_factory(64, "PCA32,IVF4,SQ8", faiss.METRIC_INNER_PRODUCT)
    with pytest.raises(StoreError, match="unsupported FAISS index"):
        kind_of(raw)


def test_a_sync_pads_an_ivf_sq8_index_saved_without_the_padding(settings: Settings) -> None:
    library = Library(replace(settings, index_kind="ivf-sq8"))
    try:
        ids = library.write_songs(space_records())
        # What an older version saved for the features space under SOUNDALIKE_INDEX_KIND=ivf-sq8.
        raw = faiss.index_factory(57, "IVF1,SQ8", faiss.METRIC_INNER_PRODUCT)
        faiss.extract_index_ivf(raw).set_direct_map_type(faiss.DirectMap.Hashtable)
        old = VectorIndex(raw, params={"nlist": 1, "nprobe": 1})
        old.add(np.asarray(ids), library.vectors(np.vstack([gtzan_row(n) for n in SPACE_SONGS])))
        before = save_index(
            old,
            library.index_dir(FEATURES),
            scaler_version=library.space_version(FEATURES),
            model_version=library.genre_model.version,
            synced_at=None,
            space=FEATURES,
        )

        manifest = library.sync_index(space=FEATURES)

        assert manifest.generation == before.generation + 1
        index, _ = library.load_index(space=FEATURES)
        assert (index.kind, index.dim, stored_dim(index)) == ("ivf-sq8", 57, 64)
        assert sorted(index.ids().tolist()) == sorted(ids)
    finally:
        library.close()
