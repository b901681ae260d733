"""Realistic sound-space vectors for the search bench: real ones, and a model to draw a million.

    python -m bench.sound_space [--corpus DIR] [--demo DIR] [--cache FILE] [--workers 2]

There is no million-song set of network embeddings to measure with, so the bench fits a
generative model to real ones and draws from it. The real vectors are what the indexer stores:
`indexer.audio.embedding.describe` and the 57 features of a decoded window, joined by
`indexer.model.spaces.sound_vectors` with the features standardized as the ``features`` space
does on a fresh data dir. They are computed for up to `WINDOWS_PER_TRACK` disjoint 30-s windows
of every track, spread evenly over it, of the game-soundtrack corpus (``python -m
bench.game_music``) and of the bundled demo library (the CC clips; its ``.hq`` copies are left
out). Windows of one track are what several songs of one album look like to the network: near,
not equal. The raw 400 network values and 57 features of each window are cached per file
(keyed by its path, size and mtime and the embedding version), so a second run only fits; a
file that cannot be described (too short for one patch) is skipped with its reason.

The model: PCA of the raw network values joined with the standardized features (457 values)
to `N_COMPONENTS` dimensions (about 90% of the variance), a Gaussian mixture with full
covariances there, and in the remaining directions independent Gaussian noise with each PCA
direction's own variance; a draw is mapped back to the 457 values and through
``sound_vectors``, as a stored row is. Running this module prints how the draws
compare with the real vectors (nearest-neighbour cosines at the real set's size).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from bench.game_music import DEFAULT_CORPUS, corpus_tracks
from indexer.audio.decode import decode_window
from indexer.audio.embedding import EMBEDDING_VERSION, STORED_DIM, describe
from indexer.audio.feature_columns import N_FEATURES
from indexer.audio.features import SR, extract_features
from indexer.errors import IndexerError
from indexer.ingest.scan import is_audio_name
from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.scaler import fit_scaler
from indexer.model.spaces import SOUND_DIM, sound_vectors

DEMO_LIBRARY = Path(__file__).resolve().parent.parent / "demo" / "library"
DEFAULT_CACHE = Path.home() / ".cache" / "soundalike" / "sound-space-windows"
WINDOW_S = 30.0
WINDOWS_PER_TRACK = 3
# Whole tracks are decoded; nothing in the corpus is longer than this.
MAX_TRACK_S = 3600.0
N_COMPONENTS = 32
N_MIXTURE = 8


def audio_files(corpus: Path, demo: Path) -> list[Path]:
    """The corpus tracks and the demo library's clips (not their ``.hq`` copies), sorted."""
    files = [t.path for t in corpus_tracks(corpus)] if corpus.is_dir() else []
    files += [p for p in sorted(demo.iterdir()) if is_audio_name(p) and ".hq." not in p.name]
    return files


def file_key(path: Path) -> str:
    """What a file's cached windows depend on: its path, size and mtime, and the embedding."""
    stat = path.stat()
    text = f"{EMBEDDING_VERSION}+features\n{path.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def window_values(path: Path) -> np.ndarray:
    """Raw network values and features [shape=(n_windows, 457)] of up to `WINDOWS_PER_TRACK`
    disjoint 30-s windows of a track, spread evenly over it.

    A track shorter than a window is one window, as the indexer would describe it.
    """
    y = decode_window(path, sr=SR, window_s=MAX_TRACK_S).y
    n_window = int(WINDOW_S * SR)
    n_windows = max(1, min(WINDOWS_PER_TRACK, len(y) // n_window))
    slack = max(len(y) - n_windows * n_window, 0)
    # Equal gaps before, between and after the windows.
    starts = [i * n_window + (i + 1) * slack // (n_windows + 1) for i in range(n_windows)]
    rows = []
    for s in starts:
        window = y[s : s + n_window]
        embedding = describe(y=window, sr=SR, path=path).embedding
        rows.append(np.concatenate([embedding, extract_features(y=window, sr=SR, path=path)]))
    return np.stack(rows)


def _cached_windows(path: Path, cache: Path) -> tuple[np.ndarray, str | None]:
    """``(window embeddings, None)``, or an empty array and why the file was skipped."""
    target = cache / f"{file_key(path)}.npy"
    if target.exists():
        return np.load(target), None
    try:
        rows = window_values(path)
    except IndexerError as exc:
        return np.zeros((0, STORED_DIM + N_FEATURES), np.float32), f"{path}: {exc}"
    np.save(target, rows.astype(np.float32))
    return rows, None


def real_embeddings(
    files: list[Path], *, cache: Path, workers: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """``(raw network values and features [shape=(n, 457)], index of each row's file)``,
    cached in ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_cached_windows, files, [cache] * len(files)))
    for _, skipped in results:
        if skipped:
            print(f"skipped {skipped}")
    per_file = [rows for rows, _ in results]
    embeddings = np.concatenate(per_file).astype(np.float32)
    file_index = np.concatenate([np.full(len(e), i) for i, e in enumerate(per_file)])
    return embeddings, file_index


def joined(raw: np.ndarray) -> np.ndarray:
    """Network values and features [shape=(n, 457)] with the features standardized as on a
    fresh data dir (the bundled GTZAN table, the ``features`` space's statistics)."""
    table = load_table(bundled_table_path())
    scaler = fit_scaler(table.X, source_sha256="bench")
    return np.hstack([raw[:, :STORED_DIM], scaler.standardize(raw[:, STORED_DIM:])])


def to_vectors(values: np.ndarray) -> np.ndarray:
    """Joined values [shape=(n, 457)] (see `joined`) to unit sound vectors."""
    return sound_vectors(values[:, :STORED_DIM], standardized=values[:, STORED_DIM:])


def fit_sampler(values: np.ndarray, *, seed: int = 0) -> Callable[..., np.ndarray]:
    """``draw(n, draw_seed=) -> unit sound vectors [shape=(n, 457)]`` from a model of
    ``values`` (network values and standardized features, see `joined`)."""
    pca = PCA(n_components=min(values.shape), random_state=seed).fit(values)
    projected = pca.transform(values)
    head = projected[:, :N_COMPONENTS]
    tail_std = projected[:, N_COMPONENTS:].std(axis=0)
    gmm = GaussianMixture(
        n_components=N_MIXTURE, covariance_type="full", reg_covar=1e-4, random_state=seed
    ).fit(head)

    def draw(n: int, *, draw_seed: int) -> np.ndarray:
        rng = np.random.default_rng(draw_seed)
        gmm.random_state = draw_seed
        out = np.empty((n, SOUND_DIM), np.float32)
        for start in range(0, n, 100_000):
            with warnings.catch_warnings():
                # Covariances symmetric only to float rounding make numpy's sampler warn.
                warnings.filterwarnings("ignore", "covariance is not symmetric", RuntimeWarning)
                rows, _ = gmm.sample(min(100_000, n - start))
            tail = rng.standard_normal((len(rows), len(tail_std))) * tail_std
            raw = pca.inverse_transform(np.hstack([rows, tail]))
            out[start : start + len(rows)] = to_vectors(raw)
        # GaussianMixture.sample returns rows grouped by component: shuffle like a real library.
        return out[rng.permutation(n)]

    return draw


def sound_sampler(
    *, corpus: Path = DEFAULT_CORPUS, demo: Path = DEMO_LIBRARY, cache: Path = DEFAULT_CACHE
) -> tuple[np.ndarray, Callable[..., np.ndarray]]:
    """``(real unit sound vectors, draw(n, draw_seed=) -> unit vectors)``, as the search
    bench's samplers return."""
    raw, _ = real_embeddings(audio_files(corpus, demo), cache=cache)
    values = joined(raw)
    return to_vectors(values), fit_sampler(values)


def neighbour_cosines(vectors: np.ndarray, groups: np.ndarray, *, k: int = 10) -> np.ndarray:
    """Cosine of each vector's 1st and ``k``-th nearest vector of another group [shape=(n, 2)]
    (windows of one track are one group: their nearness says nothing about a library)."""
    scores = vectors @ vectors.T
    scores[groups[:, None] == groups[None, :]] = -np.inf
    top = -np.sort(-scores, axis=1)[:, :k]
    return top[:, [0, k - 1]]


def dims_for_variance(vectors: np.ndarray, share: float = 0.9) -> int:
    """How many principal directions hold ``share`` of the vectors' variance."""
    explained = np.cumsum(PCA().fit(vectors).explained_variance_ratio_)
    return int(np.searchsorted(explained, share) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--demo", type=Path, default=DEMO_LIBRARY)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the comparison as JSON here")
    args = parser.parse_args()
    files = audio_files(args.corpus, args.demo)
    raw, file_index = real_embeddings(files, cache=args.cache, workers=args.workers)
    values = joined(raw)
    real = to_vectors(values)
    described = len(set(file_index.tolist()))
    print(f"{len(real)} windows of {described} of {len(files)} files")
    drawn = fit_sampler(values)(len(real), draw_seed=1)
    rows = {}
    for name, vectors, groups in (
        ("real", real, file_index),
        ("drawn", drawn, np.arange(len(drawn))),
    ):
        near = neighbour_cosines(vectors, groups)
        pairs = (vectors @ vectors.T)[np.triu_indices(len(vectors), 1)]
        rows[name] = {
            "nearest_cosine_median": float(np.median(near[:, 0])),
            "tenth_nearest_cosine_median": float(np.median(near[:, 1])),
            "random_pair_cosine_median": float(np.median(pairs)),
            "dims_for_90pct_variance": dims_for_variance(vectors),
        }
        print(f"{name:<6} " + "  ".join(f"{k} {v:.3f}" for k, v in rows[name].items()))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
