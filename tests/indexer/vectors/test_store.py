"""The FAISS index: exact cosine search, id bookkeeping, atomic save and live reload."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import StoreError
from indexer.vectors.index import VectorIndex
from indexer.vectors.store import IndexReader, load_index, read_manifest, save_index


def unit_rows(n: int, dim: int = 57, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def save(index: VectorIndex, index_dir: Path):
    return save_index(index, index_dir, scaler_version="s1", model_version="m1", synced_at=None)


def test_search_returns_cosine_neighbours_in_order() -> None:
    vectors = unit_rows(50)
    index = VectorIndex.empty(57)
    index.add(np.arange(100, 150), vectors)
    scores, ids = index.search(vectors[7], k=5)
    assert ids[0][0] == 107
    assert scores[0][0] == pytest.approx(1.0, abs=1e-5)
    expected = np.argsort(-(vectors @ vectors[7]))[:5] + 100
    assert ids[0].tolist() == expected.tolist()
    assert np.all(np.diff(scores[0]) <= 1e-7)


def test_add_replaces_an_existing_id_instead_of_duplicating() -> None:
    index = VectorIndex.empty(57)
    vectors = unit_rows(3)
    index.add(np.array([1, 2, 3]), vectors)
    index.add(np.array([2]), vectors[:1])
    assert len(index) == 3
    assert sorted(index.ids().tolist()) == [1, 2, 3]
    np.testing.assert_allclose(index.reconstruct(2), vectors[0])


def test_remove_and_missing_reconstruct() -> None:
    index = VectorIndex.empty(57)
    index.add(np.array([1, 2, 3]), unit_rows(3))
    assert index.remove(np.array([2, 99])) == 1
    assert sorted(index.ids().tolist()) == [1, 3]
    assert index.reconstruct(2) is None


def test_non_finite_vectors_are_refused() -> None:
    index = VectorIndex.empty(57)
    bad = unit_rows(1)
    bad[0, 3] = np.nan
    with pytest.raises(StoreError, match="non-finite"):
        index.add(np.array([1]), bad)
    assert len(index) == 0


def test_empty_index_search() -> None:
    scores, ids = VectorIndex.empty(57).search(unit_rows(1), k=5)
    assert ids.shape == (1, 0)


def test_save_load_query_round_trip(tmp_path: Path) -> None:
    vectors = unit_rows(20)
    index = VectorIndex.empty(57)
    index.add(np.arange(20), vectors)
    first = save(index, tmp_path)
    index.remove(np.array([0]))
    second = save(index, tmp_path)
    assert (first.generation, second.generation) == (1, 2)
    loaded, manifest = load_index(tmp_path)
    assert manifest == second
    assert manifest.count == 19
    assert manifest.dim == 57
    assert manifest.kind == "flat"
    _, ids = loaded.search(vectors[5], k=1)
    assert ids[0][0] == 5
    # Only the current and the previous generation stay on disk.
    index.remove(np.array([1]))
    save(index, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("vectors.*")) == [
        "vectors.2.faiss",
        "vectors.3.faiss",
    ]


def test_missing_and_corrupt_index_raise_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no vector index"):
        load_index(tmp_path)
    index = VectorIndex.empty(57)
    index.add(np.arange(3), unit_rows(3))
    manifest = save(index, tmp_path)
    (tmp_path / manifest.index_file).write_bytes(b"not a faiss index")
    with pytest.raises(StoreError, match="cannot read"):
        load_index(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(StoreError, match="unreadable"):
        read_manifest(tmp_path)


def test_reader_picks_up_a_new_generation(tmp_path: Path) -> None:
    index = VectorIndex.empty(57)
    index.add(np.arange(3), unit_rows(3))
    save(index, tmp_path)
    reader = IndexReader(tmp_path, check_interval_s=0.0)
    loaded, manifest = reader.current()
    assert manifest.generation == 1
    assert len(loaded) == 3
    index.add(np.array([10]), unit_rows(1, seed=4))
    save(index, tmp_path)
    loaded2, manifest2 = reader.current()
    assert manifest2.generation == 2
    assert len(loaded2) == 4
    # The object a request already holds is untouched by the swap.
    assert len(loaded) == 3


def test_reader_without_index_returns_none(tmp_path: Path) -> None:
    assert IndexReader(tmp_path).current() is None


def test_a_save_clears_what_a_killed_writer_left(tmp_path: Path) -> None:
    # A process that has exited stands in for a writer killed mid-save.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f".vectors.2.faiss.{gone}.tmp"
    stale.write_bytes(b"half an index")
    live = tmp_path / f".vectors.9.faiss.{os.getppid()}.tmp"  # a running process: left alone
    live.write_bytes(b"being written")
    index = VectorIndex.empty(57)
    index.add(np.arange(3), unit_rows(3))
    save(index, tmp_path)
    assert not stale.exists()
    assert live.exists()
