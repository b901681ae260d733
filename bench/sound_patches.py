"""Every patch's network outputs for every corpus track, cached: sound spaces become arithmetic.

The library describes a song by the mean over the 3-s patches of its analysed window
(`indexer.audio.embedding`). Which patches, which recipe turns the means into a vector and
which model files run them are all questions about the same per-patch outputs: this module
computes them once per track (the middle 30-s window the library analyses and, for tracks of
at least 70 s, the two disjoint excerpts of `bench.real_music`) and keeps them in an .npz keyed
by the file, the front end's source and the model files' bytes. Averaging any subset of the
cached patches is exactly what the library stores when it runs only that subset.

``model_dir`` names another folder of ``<model>.onnx`` files (a quantised copy, say); it is run
with the session options of `indexer.audio.embedding` and the same front end.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import indexer.audio.decode
import indexer.audio.embedding as embedding
from bench.game_music import Track
from indexer.audio.analyse import warm_worker
from indexer.audio.decode import decode_window
from indexer.audio.embedding import MODEL_DIR, MODELS, log_mel_patches, run_model, spread_patches
from indexer.audio.features import SR

if TYPE_CHECKING:
    import onnxruntime

WINDOW_S = 30.0
EXCERPT_MIN_S = 70.0
CACHE_FORMAT = "1"


@dataclass(frozen=True)
class TrackPatches:
    """Per-patch penultimate layers of a track's window and, for long tracks, its two excerpts."""

    window: dict[str, np.ndarray]
    """model -> np.ndarray [shape=(n_patches, 200)]"""
    excerpts: dict[str, np.ndarray]
    """model -> np.ndarray [shape=(2, n_patches, 200)], or [shape=(0, 0, 200)] for short tracks."""


def code_version(model_dir: Path) -> str:
    """Hash of what decides the outputs: decoder, front end, runtime and the model files' bytes.

    Only the functions that compute a patch's outputs count, not the whole embedding module: which
    patches a song is averaged over is decided after the cache.
    """
    digest = hashlib.sha256(CACHE_FORMAT.encode())
    digest.update(Path(indexer.audio.decode.__file__).read_bytes())
    for function in (log_mel_patches, run_model, embedding._session):
        digest.update(inspect.getsource(function).encode())
    for model in MODELS:
        digest.update((model_dir / f"{model}.onnx").read_bytes())
    digest.update(f"{WINDOW_S} {EXCERPT_MIN_S}".encode())
    return digest.hexdigest()[:16]


def cache_path(cache_dir: Path, path: Path, version: str) -> Path:
    """Where the patches of ``path`` (as it is now on disk) are kept."""
    stat = path.stat()
    key = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{version}"
    return cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def excerpt_bounds(n: int, *, sr: int) -> list[tuple[int, int]]:
    """Two disjoint ``WINDOW_S`` excerpts of ``n`` samples: the middle of each half."""
    half, length = n // 2, round(WINDOW_S * sr)
    if half < length:
        raise ValueError(f"{n / sr:.1f} s is too short for two {WINDOW_S:g}-s excerpts")
    return [
        (start + (half - length) // 2, start + (half - length) // 2 + length) for start in (0, half)
    ]


@functools.cache
def _session(model_path: str) -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(
        model_path, sess_options=options, providers=["CPUExecutionProvider"]
    )


def penultimates(patches: np.ndarray, *, model: str, model_dir: Path) -> np.ndarray:
    """np.ndarray [shape=(n_patches, 200)]: the library's runtime, or the files in ``model_dir``."""
    if model_dir == MODEL_DIR:
        return run_model(patches, model=model)[0]
    session = _session(str(model_dir / f"{model}.onnx"))
    return session.run(["penultimate"], {"patches": patches})[0]


def analyse(path: Path, model_dir: Path) -> TrackPatches:
    """Decode as the library does (22050 Hz window, resampled inside the front end) and run."""
    decoded = decode_window(path, sr=SR, window_s=WINDOW_S)
    window_patches = log_mel_patches(y=decoded.y, sr=SR, path=path)
    excerpt_patches = []
    if decoded.duration_s >= EXCERPT_MIN_S:
        whole = decode_window(path, sr=SR, window_s=decoded.duration_s + 60.0)
        excerpt_patches = [
            log_mel_patches(y=whole.y[lo:hi], sr=SR, path=path)
            for lo, hi in excerpt_bounds(len(whole.y), sr=SR)
        ]
    window, excerpts = {}, {}
    for model in MODELS:
        window[model] = penultimates(window_patches, model=model, model_dir=model_dir)
        excerpts[model] = (
            np.stack([penultimates(p, model=model, model_dir=model_dir) for p in excerpt_patches])
            if excerpt_patches
            else np.zeros((0, 0, window[model].shape[1]), dtype=np.float32)
        )
    return TrackPatches(window, excerpts)


def _analyse_into(path: Path, target: Path, model_dir: Path) -> Path:
    result = analyse(path, model_dir)
    arrays = {f"window_{m}": v for m, v in result.window.items()}
    arrays.update({f"excerpts_{m}": v for m, v in result.excerpts.items()})
    tmp = target.with_name(f".{target.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(target)
    return target


def load_patches(
    tracks: list[Track], cache_dir: Path, *, workers: int, model_dir: Path = MODEL_DIR
) -> tuple[list[TrackPatches], int]:
    """Every track's patches, running the networks on those not cached yet; how many were run."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    version = code_version(model_dir)
    targets = [cache_path(cache_dir, t.path, version) for t in tracks]
    todo = [
        (t.path, target) for t, target in zip(tracks, targets, strict=True) if not target.exists()
    ]
    # A shuffled order, so that the tracks done so far are a sample of every soundtrack.
    todo = [todo[i] for i in np.random.default_rng(0).permutation(len(todo))]
    if todo:
        with ProcessPoolExecutor(max_workers=workers, initializer=warm_worker) as pool:
            jobs = pool.map(_analyse_into, *zip(*todo, strict=True), [model_dir] * len(todo))
            for done, _ in enumerate(jobs, 1):
                print(f"\r  ran the networks on {done}/{len(todo)}", end="", flush=True)
        print()
    loaded = []
    for target in targets:
        with np.load(target) as npz:
            loaded.append(
                TrackPatches(
                    {m: npz[f"window_{m}"] for m in MODELS},
                    {m: npz[f"excerpts_{m}"] for m in MODELS},
                )
            )
    return loaded, len(todo)


def cached_tracks(tracks: list[Track], cache_dir: Path, model_dir: Path) -> list[Track]:
    """The tracks whose outputs are cached already, in corpus order."""
    version = code_version(model_dir)
    return [t for t in tracks if cache_path(cache_dir, t.path, version).exists()]


def spread(n_patches: int, k: int | None) -> np.ndarray:
    """Indices of ``k`` patches spread evenly over ``n_patches`` (all of them for None), as the
    library picks them (`indexer.audio.embedding.spread_patches`)."""
    return np.arange(n_patches) if k is None else spread_patches(n_patches, max_patches=k)


def stored_embeddings(
    patches: list[TrackPatches], *, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """What the library would store with ``k`` spread patches: windows [n, 400], excerpts [2m, 400].

    Excerpts are in track order, two per long track, as `bench.real_music` lays them out.
    """

    def mean(rows: np.ndarray) -> np.ndarray:
        return rows[spread(len(rows), k)].mean(axis=0, dtype=np.float64)

    windows = np.array([np.concatenate([mean(t.window[m]) for m in MODELS]) for t in patches])
    excerpts = [
        np.concatenate([mean(t.excerpts[m][e]) for m in MODELS])
        for t in patches
        for e in range(len(t.excerpts[MODELS[0]]))
    ]
    return windows.astype(np.float32), np.array(excerpts, dtype=np.float32)
