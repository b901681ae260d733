"""The straightforward extractor: one librosa call per feature, as the seed notebook did.

It is the yardstick for ``indexer.audio.features``: the equality test holds ours to it, and
``bench/extract.py`` times ours against it. Padding is spelled out where the GTZAN table needs
it (``pad_mode="reflect"``, librosa's default before 0.10); ``effects.hpss`` and
``beat.beat_track`` keep their own defaults, as they did when the table was made.
"""

from __future__ import annotations

import warnings

import librosa
import numpy as np

from indexer.audio.feature_columns import FEATURE_NAMES, N_MFCC


def reference_features(*, y: np.ndarray, sr: int) -> np.ndarray:
    """The 57 features in ``FEATURE_NAMES`` order, each from its own librosa call.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
    sr : int

    Returns
    -------
    np.ndarray [shape=(57,), dtype=float64]
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Trying to estimate tuning from empty frequency set"
        )
        chroma = librosa.feature.chroma_stft(y=y, sr=sr, pad_mode="reflect")
    harmony, perceptr = librosa.effects.hpss(y)
    series = {
        "chroma_stft": chroma,
        "rms": librosa.feature.rms(y=y, pad_mode="reflect"),
        "spectral_centroid": librosa.feature.spectral_centroid(y=y, sr=sr, pad_mode="reflect"),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(y=y, sr=sr, pad_mode="reflect"),
        "rolloff": librosa.feature.spectral_rolloff(y=y, sr=sr, pad_mode="reflect"),
        "zero_crossing_rate": librosa.feature.zero_crossing_rate(y),
        "harmony": harmony,
        "perceptr": perceptr,
    }
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=N_MFCC, pad_mode="reflect")
    series.update({f"mfcc{i}": mfcc[i - 1] for i in range(1, N_MFCC + 1)})
    values = {"tempo": float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=sr)[0])[0])}
    for name, x in series.items():
        values[f"{name}_mean"] = float(np.mean(x))
        values[f"{name}_var"] = float(np.var(x))
    return np.array([values[name] for name in FEATURE_NAMES], dtype=np.float64)
