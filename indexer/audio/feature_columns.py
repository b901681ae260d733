"""The 57 GTZAN feature columns, in the order of ``features_30_sec.csv``."""

from __future__ import annotations

SPECTRAL_FEATURES: tuple[str, ...] = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "harmony",
    "perceptr",
)
N_MFCC = 20

FEATURE_NAMES: tuple[str, ...] = (
    *(f"{name}_{stat}" for name in SPECTRAL_FEATURES for stat in ("mean", "var")),
    "tempo",
    *(f"mfcc{i}_{stat}" for i in range(1, N_MFCC + 1) for stat in ("mean", "var")),
)
N_FEATURES = len(FEATURE_NAMES)

assert N_FEATURES == 57
