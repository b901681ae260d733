"""Every patch's network outputs for every corpus track, cached: sound spaces become arithmetic.

The library describes a song by the mean over the 3-s patches of its analysed window
(`indexer.audio.embedding`). Which patches, which recipe turns the means into a vector and
which model files run them are all questions about the same per-patch outputs: this module
computes them once per track (the middle 30-s window the library analyses and, for tracks of
at least 70 s, the two disjoint excerpts: `bench.corpus_cache`) and keeps them in an .npz keyed
by the file, the front end's source and the model files' bytes. Averaging any subset of the
cached patches is exactly what the library stores when it runs only that subset.

``model_dir`` names another folder of ``<model>.onnx`` files (a quantised copy, say); it is run
with the session options of `indexer.audio.embedding` and the same front end.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import indexer.audio.decode
import indexer.audio.embedding as embedding
from bench import corpus_cache
from bench.corpus_cache import WINDOW_S, cache_path, excerpt_samples, load_cached
from bench.game_music import Track
from indexer.audio.decode import decode_window
from indexer.audio.embedding import MODEL_DIR, MODELS, log_mel_patches, run_model, spread_patches
from indexer.audio.features import SR

if TYPE_CHECKING:
    import onnxruntime


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
    return corpus_cache.code_version(
        Path(indexer.audio.decode.__file__).read_bytes(),
        *(
            inspect.getsource(function).encode()
            for function in (log_mel_patches, run_model, embedding._session)
        ),
        *((model_dir / f"{model}.onnx").read_bytes() for model in MODELS),
    )


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
    excerpt_patches = [
        log_mel_patches(y=y, sr=SR, path=path)
        for y in excerpt_samples(path, duration_s=decoded.duration_s)
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


def _arrays(path: Path, model_dir: Path) -> dict[str, np.ndarray]:
    """What the cache keeps of a track: `analyse` as named arrays."""
    result = analyse(path, model_dir)
    arrays = {f"window_{m}": v for m, v in result.window.items()}
    arrays.update({f"excerpts_{m}": v for m, v in result.excerpts.items()})
    return arrays


def _read(npz: Mapping[str, np.ndarray]) -> TrackPatches:
    """A cached track back from its arrays."""
    return TrackPatches(
        {m: npz[f"window_{m}"] for m in MODELS},
        {m: npz[f"excerpts_{m}"] for m in MODELS},
    )


def load_patches(
    tracks: list[Track], cache_dir: Path, *, workers: int, model_dir: Path = MODEL_DIR
) -> tuple[list[Track], list[TrackPatches], int]:
    """The tracks the networks could hear, their patches, and how many tracks the networks ran
    on now (the others were cached); a track under one 3-s patch is reported and left out."""
    return load_cached(
        tracks,
        cache_dir,
        version=code_version(model_dir),
        analyse=functools.partial(_arrays, model_dir=model_dir),
        read=_read,
        workers=workers,
        doing="ran the networks on",
        shuffle=True,
    )


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
