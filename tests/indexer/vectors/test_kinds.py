"""Exact and approximate index kinds: round trip, add/remove, recall, choice by size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest
from click.testing import CliRunner

from indexer.audio.analyse import SongRecord
from indexer.cli import main
from indexer.errors import StoreError
from indexer.library import Library
from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.spaces import FEATURES, SOUND
from indexer.settings import Settings
from indexer.vectors.index import VectorIndex
from indexer.vectors.kinds import (
    IVF_TARGET_RECALL,
    NPROBE_LADDER,
    needs_rebuild,
    resolve_kind,
    target_kind,
    tune_nprobe,
)
from indexer.vectors.store import IndexReader, load_index, save_index
from tests.helpers import clustered_rows

KINDS = ["flat", "ivf", "ivf-sq8", "hnsw"]
IVF_KINDS = ("ivf", "ivf-sq8")


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1)[:, :k]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered_rows(4000)


@pytest.fixture(scope="module")
def built(vectors: np.ndarray) -> dict[str, VectorIndex]:
    return {kind: VectorIndex.build(np.arange(len(vectors)), vectors, kind=kind) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_recall_at_10_against_exact_search(
    kind: str, vectors: np.ndarray, built: dict[str, VectorIndex]
) -> None:
    queries = clustered_rows(200, seed=1)
    truth = exact_top(vectors, queries, 10)
    _, ids = built[kind].search(queries, k=10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, ids, strict=True)])
    assert recall >= (1.0 if kind == "flat" else 0.95)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_query_round_trip_records_kind_and_params(
    kind: str, vectors: np.ndarray, built: dict[str, VectorIndex], tmp_path: Path
) -> None:
    index = built[kind]
    manifest = save_index(index, tmp_path, scaler_version="s", model_version=None, synced_at=None)
    assert manifest.kind == kind
    assert manifest.params == index.params
    if kind in IVF_KINDS:
        assert set(manifest.params) == {"nlist", "nprobe", "nprobe_library", "library_recall"}
    for mmap in (False, True):
        loaded, again = load_index(tmp_path, mmap=mmap)
        assert (loaded.kind, again, len(loaded)) == (kind, manifest, len(vectors))
        if kind in IVF_KINDS:
            assert faiss.extract_index_ivf(loaded.faiss_index).nprobe == manifest.params["nprobe"]
        _, ids = loaded.search(vectors[123], k=1)
        assert ids[0][0] == 123
    reader_index, _ = IndexReader(tmp_path).current()
    assert reader_index.kind == kind


@pytest.mark.parametrize("kind", KINDS)
def test_add_remove_and_replace_without_rebuild(
    kind: str, vectors: np.ndarray, tmp_path: Path
) -> None:
    index = VectorIndex.build(np.arange(1000), vectors[:1000], kind=kind)
    index.add(np.arange(1000, 1500), vectors[1000:1500])
    assert len(index) == 1500
    assert index.remove(np.array([5, 6, 99999])) == 2
    assert index.reconstruct(5) is None
    # Replacing id 7 with the vector of row 1600: searches find 7 there, never at its old place.
    index.add(np.array([7]), vectors[1600:1601])
    assert len(index) == 1498
    assert sorted(index.ids().tolist()) == sorted(set(range(1500)) - {5, 6})
    _, ids = index.search(vectors[[5, 7, 1600, 1200]], k=3)
    assert 5 not in ids
    assert ids[2][0] == 7
    assert ids[3][0] == 1200
    if kind == "ivf-sq8":
        # One byte per dimension over ranges fitted on the first 1000 rows (a value of a later
        # row outside them is clipped): near the added vector, and exactly what encoding it gives.
        np.testing.assert_allclose(index.reconstruct(7), vectors[1600], atol=0.05)
        np.testing.assert_array_equal(index.reconstruct(7), index.encode_decode(vectors[1600]))
    else:
        np.testing.assert_allclose(index.reconstruct(7), vectors[1600])
    assert index.holds(7, vectors[1600])
    assert not index.holds(7, vectors[7])
    assert not index.holds(5, vectors[5])
    # Masked HNSW nodes survive a save and load and stay invisible.
    save_index(index, tmp_path, scaler_version="s", model_version=None, synced_at=None)
    loaded, manifest = load_index(tmp_path)
    assert manifest.masked == (3 if kind == "hnsw" else 0)
    _, ids = loaded.search(vectors[[5, 6, 7]], k=1000)
    assert not {5, 6} & set(ids.ravel().tolist())
    for row in ids:
        found = row[row >= 0]
        assert len(found) == len(set(found.tolist()))


def test_ivf_searches_library_songs_in_the_fewest_lists_that_reach_the_target() -> None:
    vectors = clustered_rows(20_000, seed=3, dim=19)
    ids = np.arange(100, 100 + len(vectors))
    index = VectorIndex.build(ids, vectors, kind="ivf")
    nprobe = index.params["nprobe_library"]
    assert index.params["library_recall"] >= IVF_TARGET_RECALL
    assert faiss.extract_index_ivf(index.faiss_index).nprobe == index.params["nprobe"]

    def recall_of_songs(songs: np.ndarray, *, nprobe: int | None) -> float:
        if nprobe is None:
            _, found = index.search(vectors[songs], k=11, library_songs=True)
        else:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            _, found = index.faiss_index.search(vectors[songs], 11, params=params)
        exact = ids[np.argsort(-(vectors[songs] @ vectors.T), axis=1)[:, :11]]
        return float(
            np.mean(
                [
                    len(set(f[f != ids[s]][:10]) & set(e[e != ids[s]][:10])) / 10
                    for f, e, s in zip(found, exact, songs, strict=True)
                ]
            )
        )

    # Songs other than the sampled ones reach the target too, through search(library_songs=).
    others = np.random.default_rng(7).choice(len(ids), 400, replace=False)
    assert recall_of_songs(others, nprobe=None) >= 0.98
    # The rung below the chosen one falls short on the sampled songs: the choice is the least.
    smaller = [p for p in NPROBE_LADDER if p < nprobe]
    if smaller:
        sampled = np.sort(np.random.default_rng(0).choice(len(ids), 500, replace=False))
        assert recall_of_songs(sampled, nprobe=smaller[-1]) < IVF_TARGET_RECALL
    # Asked to be exact, it scans every list.
    assert tune_nprobe(index.faiss_index, ids, vectors, target=1.01)[0] == index.params["nlist"]


def test_ivf_tuning_counts_tied_songs_as_found() -> None:
    # Every vector three times (the same recording under three paths): which copy comes back
    # is arbitrary, and a tuning that wanted the exact ids would scan every list.
    vectors = np.repeat(clustered_rows(6_000, seed=6, dim=19), 3, axis=0)
    index = VectorIndex.build(np.arange(len(vectors)), vectors, kind="ivf")
    assert index.params["library_recall"] >= IVF_TARGET_RECALL
    assert index.params["nprobe_library"] < index.params["nlist"]


def test_ivf_keeps_an_nprobe_it_is_given() -> None:
    vectors = clustered_rows(5_000, seed=5, dim=19)
    index = VectorIndex.build(
        np.arange(len(vectors)), vectors, kind="ivf", params={"nlist": 64, "nprobe": 5}
    )
    assert index.params == {"nlist": 64, "nprobe": 5}
    assert faiss.extract_index_ivf(index.faiss_index).nprobe == 5


def sound_like_rows(n: int, *, seed: int = 0, dim: int = 400, latent: int = 24) -> np.ndarray:
    """Unit vectors of many dimensions near a low-dimensional clustered set, as network
    embeddings are (a few dozen directions carry most of their variance)."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).standard_normal((latent, dim))
    centres = np.random.default_rng(98).standard_normal((40, latent))
    z = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, latent))
    rows = (z @ basis + 0.5 * rng.standard_normal((n, dim))).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_scalar_quantised_ivf_loses_little_recall_at_a_quarter_of_the_size(tmp_path: Path) -> None:
    vectors = sound_like_rows(8000)
    queries = sound_like_rows(300, seed=1)
    truth = exact_top(vectors, queries, 10)
    sizes = {}
    recalls = {}
    for kind in IVF_KINDS:
        index = VectorIndex.build(np.arange(len(vectors)), vectors, kind=kind)
        # Every list scanned: what is left of the loss is the quantiser's alone.
        faiss.extract_index_ivf(index.faiss_index).nprobe = index.params["nlist"]
        _, found = index.search(queries, k=10)
        recalls[kind] = np.mean(
            [len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]
        )
        save_index(index, tmp_path / kind, scaler_version="s", model_version=None, synced_at=None)
        sizes[kind] = (tmp_path / kind / "vectors.1.faiss").stat().st_size
        loaded, manifest = load_index(tmp_path / kind, mmap=True)
        assert (loaded.kind, manifest.kind, loaded.lossy) == (kind, kind, kind == "ivf-sq8")
    assert recalls["ivf"] == 1.0
    assert 0.97 <= recalls["ivf-sq8"] < 1.0
    # 400 bytes a vector instead of 1600, plus the same ids and centroids.
    assert sizes["ivf-sq8"] < 0.3 * sizes["ivf"]


def test_scalar_quantised_ivf_tunes_nprobe_by_exact_cosines() -> None:
    vectors = sound_like_rows(20_000, seed=3)
    ids = np.arange(50, 50 + len(vectors))
    index = VectorIndex.build(ids, vectors, kind="ivf-sq8")
    assert index.params["library_recall"] >= IVF_TARGET_RECALL
    assert index.params["nprobe_library"] < index.params["nlist"]
    songs = np.random.default_rng(4).choice(len(ids), 200, replace=False)
    _, found = index.search(vectors[songs], k=11, library_songs=True)
    exact = ids[np.argsort(-(vectors[songs] @ vectors.T), axis=1)[:, :11]]
    recall = np.mean(
        [
            len(set(f[f != ids[s]][:10]) & set(e[e != ids[s]][:10])) / 10
            for f, e, s in zip(found, exact, songs, strict=True)
        ]
    )
    assert recall >= 0.97
    # A target out of reach: the plateau rule stops where more lists stop helping, the plain
    # ladder scans them all.
    nlist = index.params["nlist"]
    nprobe, reached = tune_nprobe(index.faiss_index, ids, vectors, target=1.01, plateau=True)
    assert nprobe < nlist
    assert reached >= 0.95
    assert tune_nprobe(index.faiss_index, ids, vectors, target=1.01)[0] == nlist


def test_compaction_drops_masked_hnsw_nodes(vectors: np.ndarray) -> None:
    index = VectorIndex.build(np.arange(1000), vectors[:1000], kind="hnsw")
    index.remove(np.arange(0, 1000, 2))
    compacted = index.compact()
    assert (index.masked, compacted.masked, len(compacted)) == (500, 0, 500)
    assert compacted.faiss_index.ntotal == 500
    _, ids = compacted.search(vectors[1], k=1)
    assert ids[0][0] == 1


@pytest.mark.parametrize(
    ("requested", "n", "space", "expected"),
    [
        ("auto", 10, None, "flat"),
        ("auto", 100_000, None, "ivf"),
        ("auto", 100_000, FEATURES, "ivf"),
        ("auto", 10, SOUND, "flat"),
        ("auto", 100_000, SOUND, "ivf-sq8"),
        ("ivf", 100_000, SOUND, "ivf"),
        ("hnsw", 10, None, "hnsw"),
        ("flat", 10**6, SOUND, "flat"),
    ],
)
def test_resolve_kind(requested: str, n: int, space: str | None, expected: str) -> None:
    assert resolve_kind(requested, n, threshold=100_000, space=space) == expected


def test_auto_keeps_a_chosen_kind_until_the_threshold_is_crossed() -> None:
    assert target_kind("auto", "hnsw", 80_000, threshold=100_000) == "hnsw"
    assert target_kind("auto", "hnsw", 40_000, threshold=100_000) == "flat"
    assert target_kind("auto", "flat", 120_000, threshold=100_000) == "ivf"
    assert target_kind("auto", "flat", 120_000, threshold=100_000, space=SOUND) == "ivf-sq8"
    assert target_kind("auto", "ivf", 120_000, threshold=100_000, space=SOUND) == "ivf"
    assert target_kind("auto", "ivf-sq8", 40_000, threshold=100_000, space=SOUND) == "flat"
    assert needs_rebuild("ivf-sq8", {"nlist": 10}, 1_000_000)
    assert target_kind("ivf", "flat", 10, threshold=100_000) == "ivf"
    assert needs_rebuild("ivf", {"nlist": 10}, 1_000_000)
    assert not needs_rebuild("ivf", {"nlist": 4000}, 1_000_000)
    with pytest.raises(StoreError, match="unknown index kind"):
        resolve_kind("lsh", 10)


def test_library_switches_kind_at_the_threshold(settings: Settings, tmp_path: Path) -> None:
    library = Library(replace(settings, index_threshold=150))
    table = load_table(bundled_table_path())
    records = [
        SongRecord(
            path=str(tmp_path / f"{i}.wav"),
            content_hash=f"{i:064d}",
            size_bytes=1,
            mtime_ns=1,
            title=str(i),
            artist=None,
            album=None,
            duration_s=30.0,
            features=table.X[i],
        )
        for i in range(200)
    ]
    ids = library.write_songs(records[:100])
    # Table rows have no sound embedding: their index is the features space's.
    assert library.sync_index(space=FEATURES).kind == "flat"
    ids += library.write_songs(records[100:])
    manifest = library.sync_index(space=FEATURES)
    assert (manifest.kind, manifest.count) == ("ivf", 200)
    assert manifest.params["nlist"] >= 1
    index, _ = load_index(library.index_dir(FEATURES))
    song, neighbours = library.similar_to_song(ids[0], k=5, index=index, space=FEATURES)
    assert len(neighbours) == 5
    library.remove_songs(ids[:10])
    assert library.sync_index(space=FEATURES).count == 190
    manifest = library.rebuild_index(kind="hnsw", space=FEATURES)
    assert (manifest.kind, manifest.count) == ("hnsw", 190)
    # Under "auto" the rebuilt kind stays; removals are masked until compaction.
    library.remove_songs(ids[10:15])
    manifest = library.sync_index(space=FEATURES)
    assert (manifest.kind, manifest.count, manifest.masked) == ("hnsw", 185, 5)
    library.remove_songs(ids[15:40])
    manifest = library.sync_index(space=FEATURES)
    assert (manifest.kind, manifest.count, manifest.masked) == ("hnsw", 160, 0)
    library.close()


def test_rebuild_kind_on_the_command_line(settings: Settings, tmp_path: Path) -> None:
    table = load_table(bundled_table_path())
    library = Library(settings)
    library.write_songs(
        [
            SongRecord(
                path=str(tmp_path / f"{i}.wav"),
                content_hash=f"{i:064d}",
                size_bytes=1,
                mtime_ns=1,
                title=str(i),
                artist=None,
                album=None,
                duration_s=30.0,
                features=table.X[i],
            )
            for i in range(100)
        ]
    )
    library.close()
    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(main, ["rebuild", "--kind", "hnsw"], env=env)
    assert result.exit_code == 0, result.output
    assert "Index features, generation 1: 100 songs, hnsw (M 32" in result.output
    assert "Index sound, generation 1: 0 songs, hnsw" in result.output
    _, manifest = load_index(settings.index_dir / "features")
    assert (manifest.kind, manifest.params["ef_search"]) == ("hnsw", 128)
    result = CliRunner().invoke(main, ["rebuild", "--kind", "lsh"], env=env)
    assert result.exit_code == 2
    assert "'lsh' is not one of" in result.output
