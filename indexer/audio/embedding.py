"""musicnn's description of a song: its 200-d penultimate layer and its 50 tag probabilities.

Two pretrained networks by Pons & Serra (2019), converted from the ``musicnn`` 0.1.0 wheel to
ONNX by ``scripts/convert_musicnn.py`` (see ``indexer/audio/musicnn/SOURCES.md``):
``MSD_musicnn`` (Million Song Dataset tags: genres, moods, eras) and ``MTT_musicnn``
(MagnaTagATune tags: instruments, voice, tempo). Each sees 3-s patches of a log-mel
spectrogram; a song is described by the mean over ``MAX_PATCHES`` of its non-overlapping
patches, spread evenly over the window. The network costs the same for every patch, and on real
music a few patches spread over 30 s describe a song about as well as all ten (measured in
docs/evaluation.md and docs/performance.md), so the rest are not run.

The front end reproduces musicnn's own (16 kHz, 512-point FFT, hop 256, 96 mel bands, float16
power, ``log10(10000 S + 1)``), because the networks were trained on exactly that input.
onnxruntime runs the networks on one thread: indexing parallelises over files, not inside one.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soxr

from indexer.errors import FeatureError, ModelError, ParameterError, TooShortError

if TYPE_CHECKING:
    import onnxruntime

SR = 16000
"""The rate musicnn was trained at."""

N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96

PATCH_FRAMES = 187
"""Spectrogram frames per patch: the 3 s the networks were trained on."""

MIN_DURATION_S = (PATCH_FRAMES - 1) * HOP_LENGTH / SR
"""Shortest signal that fills one patch (centred frames: n samples give 1 + n // hop frames)."""

MODELS = ("MSD_musicnn", "MTT_musicnn")
N_PENULTIMATE = 200
N_TAGS = 50

MAX_PATCHES = 4
"""Patches each network runs on per window, spread evenly over it (a 30-s window has 10)."""

EMBEDDING_VERSION = f"musicnn-msd+mtt-spread{MAX_PATCHES}-2"
"""Names what wrote a stored embedding (networks, front end, patching): change it whenever any
of them changes, so that ``soundalike backfill`` recomputes the old rows."""

STORED_DIM = len(MODELS) * N_PENULTIMATE
"""Floats in a stored embedding: every model's penultimate mean, in ``MODELS`` order."""

STORED_TAGS = len(MODELS) * N_TAGS
"""Floats in a stored tag vector: every model's tag probabilities, in ``MODELS`` order."""

MODEL_DIR = Path(__file__).resolve().parent / "musicnn"
"""The ONNX files, their tag names (``tags.json``), licence and provenance."""

# Patches per onnxruntime call: a 30-s window is 10; longer input is run in slices so memory
# stays bounded whatever the caller passes.
_BATCH_PATCHES = 32


@dataclass(frozen=True)
class Embedding:
    """One network's description of a signal: means over its patches."""

    model: str
    penultimate: np.ndarray
    """np.ndarray [shape=(200,), dtype=float32]: mean of the penultimate layer (after ReLU and
    batch normalisation), the song vector."""
    tags: np.ndarray
    """np.ndarray [shape=(50,), dtype=float32]: mean tag probabilities, in ``tag_names`` order."""
    tag_names: tuple[str, ...]
    n_patches: int
    """Patches averaged: at most ``MAX_PATCHES``."""


def spread_patches(n_patches: int, *, max_patches: int = MAX_PATCHES) -> np.ndarray:
    """Indices of at most ``max_patches`` of ``n_patches`` patches, spread evenly.

    The window is cut into ``max_patches`` equal stretches and the patch at the middle of each is
    kept, so one patch is the middle one and none sits on the window's edge.

    Returns
    -------
    np.ndarray [shape=(min(n_patches, max_patches),), dtype=int64]
        Increasing; all of them when there are no more than ``max_patches``.
    """
    if max_patches < 1:
        raise ParameterError(f"max_patches={max_patches} must be at least 1")
    if n_patches <= max_patches:
        return np.arange(n_patches)
    return ((np.arange(max_patches) + 0.5) * n_patches / max_patches).astype(np.int64)


def embed(
    *,
    y: np.ndarray,
    sr: int,
    models: tuple[str, ...] = MODELS,
    path: str | Path = "<samples>",
) -> dict[str, Embedding]:
    """Describe a mono signal with each of ``models``, from ``MAX_PATCHES`` spread patches.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples at any rate, e.g. the decoder's window.
    sr : int
        Sample rate of ``y``; resampled to 16 kHz here.
    models : tuple of str
        Any of ``MODELS``.
    path : str or Path
        Only used in error messages.

    Returns
    -------
    dict of str to Embedding
        One entry per model, in the order asked.

    Raises
    ------
    TooShortError
        ``y`` is shorter than one patch (``MIN_DURATION_S`` at 16 kHz).
    FeatureError
        ``y`` or a network output is not finite.
    ModelError
        A model name is unknown, or its ONNX file is missing or unreadable.
    """
    patches = log_mel_patches(y=y, sr=sr, path=path, max_patches=MAX_PATCHES)
    result = {}
    for model in models:
        penultimate, tags = run_model(patches, model=model, path=path)
        result[model] = Embedding(
            model=model,
            penultimate=penultimate.mean(axis=0, dtype=np.float64).astype(np.float32),
            tags=tags.mean(axis=0, dtype=np.float64).astype(np.float32),
            tag_names=tag_names(model),
            n_patches=len(patches),
        )
    return result


@dataclass(frozen=True)
class SoundDescription:
    """What the database stores about a song's sound: every model's outputs, joined."""

    embedding: np.ndarray
    """np.ndarray [shape=(STORED_DIM,), dtype=float32]: penultimate means in ``MODELS`` order."""
    tags: np.ndarray
    """np.ndarray [shape=(STORED_TAGS,), dtype=float32]: tag probabilities in ``MODELS`` order."""
    version: str = EMBEDDING_VERSION


def describe(*, y: np.ndarray, sr: int, path: str | Path = "<samples>") -> SoundDescription:
    """Both networks' description of a mono signal, as one row of the database stores it.

    Raises the same errors as :func:`embed`; a signal shorter than one patch raises
    ``TooShortError``, and callers decide whether the song is kept without a sound vector.
    """
    embeddings = embed(y=y, sr=sr, models=MODELS, path=path)
    return SoundDescription(
        embedding=np.concatenate([embeddings[m].penultimate for m in MODELS]),
        tags=np.concatenate([embeddings[m].tags for m in MODELS]),
    )


def all_tag_names() -> tuple[str, ...]:
    """Names of the stored tag vector's entries, in order (a name may appear once per model)."""
    return tuple(name for model in MODELS for name in tag_names(model))


def load_session() -> None:
    """Load every model's onnxruntime session now, so that the first file does not pay for it."""
    for model in MODELS:
        _session(model)


def log_mel_patches(
    *,
    y: np.ndarray,
    sr: int,
    path: str | Path = "<samples>",
    max_patches: int | None = None,
) -> np.ndarray:
    """musicnn's input: non-overlapping 3-s patches of its log-compressed mel spectrogram.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples at ``sr``.
    sr : int
        Sample rate of ``y``.
    path : str or Path
        Only used in error messages.
    max_patches : int or None
        Only the patches :func:`spread_patches` keeps, and only their frames are computed;
        None: every patch.

    Returns
    -------
    np.ndarray [shape=(n_patches, 187, 96), dtype=float32]
        Time by mel band; frames after the last whole patch are dropped, as musicnn does.

    Raises
    ------
    TooShortError
        Fewer than 187 frames.
    FeatureError
        ``y`` is not finite.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"need mono samples [shape=(n,)], got shape {y.shape}")
    if not np.isfinite(y).all():
        raise FeatureError(path, "non-finite samples")
    if sr != SR and y.size:
        y = soxr.resample(y, sr, SR, quality="HQ").astype(np.float32, copy=False)
    n_frames = 1 + y.size // HOP_LENGTH if y.size else 0
    if n_frames < PATCH_FRAMES:
        raise TooShortError(
            path,
            f"{y.size / SR:.2f} s of audio, the network needs at least {MIN_DURATION_S:.3f} s",
        )
    # Imported here: the neighbour commands reach this module's constants through the spaces
    # (indexer.model.spaces) and need no FFT.
    from indexer.audio import spectral

    n_patches = n_frames // PATCH_FRAMES
    keep = (
        np.arange(n_patches)
        if max_patches is None
        else spread_patches(n_patches, max_patches=max_patches)
    )
    # librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH,
    # n_mels=N_MELS) with its defaults (centred, zero-padded, Hann window, power 2, Slaney mels),
    # the front end musicnn was trained with, in the same arithmetic without librosa's imports.
    # Centred frame t is frame t of the zero-padded signal, so each kept patch's 187 frames come
    # from its own stretch of it: the frames of patches that are not run are never computed.
    padded = np.pad(y, N_FFT // 2)
    span = (PATCH_FRAMES - 1) * HOP_LENGTH + N_FFT
    starts = keep * PATCH_FRAMES * HOP_LENGTH
    D = np.hstack(
        [
            spectral.stft(
                padded[start : start + span],
                n_fft=N_FFT,
                hop_length=HOP_LENGTH,
                pad_mode="constant",
                center=False,
            )
            for start in starts
        ]
    )
    mel = spectral.melspectrogram(S=np.abs(D) ** 2, sr=SR, n_mels=N_MELS)
    # musicnn stored its spectrograms as float16; the rounding is part of what it was trained on.
    # Power beyond float16's range (only from signals far above full scale) is held at its top
    # rather than becoming inf. The product is taken in float32: in float16 it overflows above
    # S = 6.55.
    power = np.minimum(mel.T, np.finfo(np.float16).max).astype(np.float16).astype(np.float32)
    log_mel = np.log10(np.float32(10000) * power + np.float32(1))
    return np.ascontiguousarray(log_mel.reshape(len(keep), PATCH_FRAMES, N_MELS))


def run_model(
    patches: np.ndarray, *, model: str, path: str | Path = "<samples>"
) -> tuple[np.ndarray, np.ndarray]:
    """Run one network on a batch of patches, one row per patch.

    Parameters
    ----------
    patches : np.ndarray [shape=(n_patches, 187, 96)]
        From :func:`log_mel_patches`.
    model : str
        One of ``MODELS``.
    path : str or Path
        Only used in error messages.

    Returns
    -------
    penultimate : np.ndarray [shape=(n_patches, 200), dtype=float32]
    tags : np.ndarray [shape=(n_patches, 50), dtype=float32]
        Tag probabilities (after the sigmoid).

    Raises
    ------
    FeatureError
        An output is not finite.
    ModelError
        ``model`` is unknown, or its ONNX file is missing or unreadable.
    """
    patches = np.ascontiguousarray(patches, dtype=np.float32)
    if patches.ndim != 3 or patches.shape[1:] != (PATCH_FRAMES, N_MELS):
        raise ParameterError(
            f"need patches [shape=(n, {PATCH_FRAMES}, {N_MELS})], got shape {patches.shape}"
        )
    session = _session(model)
    penultimate, tags = [], []
    for start in range(0, len(patches), _BATCH_PATCHES):
        p, t = session.run(
            ["penultimate", "tags"], {"patches": patches[start : start + _BATCH_PATCHES]}
        )
        penultimate.append(p)
        tags.append(t)
    pen, tag = np.concatenate(penultimate), np.concatenate(tags)
    if not (np.isfinite(pen).all() and np.isfinite(tag).all()):
        raise FeatureError(path, f"{model} gave non-finite outputs")
    return pen, tag


def tag_names(model: str) -> tuple[str, ...]:
    """The 50 tags of ``model``, in the order of its outputs (from the musicnn wheel)."""
    names = _tag_lists().get(model)
    if names is None:
        raise ModelError(f"unknown musicnn model {model!r}; known: {', '.join(MODELS)}")
    return names


@functools.cache
def _tag_lists() -> dict[str, tuple[str, ...]]:
    path = MODEL_DIR / "tags.json"
    try:
        lists = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot read the musicnn tag names {path}: {err}") from None
    return {model: tuple(names) for model, names in lists.items()}


@functools.cache
def _session(model: str) -> onnxruntime.InferenceSession:
    """The model's session, made on first use: importing this module stays cheap."""
    if model not in MODELS:
        raise ModelError(f"unknown musicnn model {model!r}; known: {', '.join(MODELS)}")
    import onnxruntime
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    path = MODEL_DIR / f"{model}.onnx"
    if not path.is_file():
        raise ModelError(f"musicnn model file missing: {path}")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except (
        ort_errors.Fail,
        ort_errors.InvalidArgument,
        ort_errors.InvalidGraph,
        ort_errors.InvalidProtobuf,
        ort_errors.NoSuchFile,
    ) as err:
        raise ModelError(f"cannot load musicnn model {path}: {err}") from None
