"""The 57 features of every corpus track, cached: `bench.real_music` scores them.

As ``soundalike index`` does, each track's middle 30 s is decoded with the project's decoder and
described by the 57 features; tracks of at least 70 s also get the features of their two
disjoint excerpts (`bench.corpus_cache`). The .npz per track is keyed by the file and by the
decoder's and extractor's source, so a second run only reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import indexer.audio.decode
import indexer.audio.features
from bench import corpus_cache
from bench.corpus_cache import WINDOW_S, excerpt_samples, load_cached
from bench.game_music import Track
from indexer.audio.features import SR, extract_features, extract_file_features


@dataclass(frozen=True)
class TrackFeatures:
    """The 57 features of a track's middle window and, for long tracks, of its two excerpts."""

    features: np.ndarray
    """np.ndarray [shape=(57,)]"""
    excerpts: np.ndarray
    """np.ndarray [shape=(2, 57)], or [shape=(0, 57)] for a track under ``EXCERPT_MIN_S``."""
    duration_s: float


def code_version() -> str:
    """Hash of what decides the features: a change to the decoder or extractor empties the cache."""
    return corpus_cache.code_version(
        *(
            Path(module.__file__).read_bytes()
            for module in (indexer.audio.decode, indexer.audio.features)
        )
    )


def analyse(path: Path) -> TrackFeatures:
    """Decode ``path`` as the library does, plus the whole track for the excerpts of long ones."""
    features, decoded = extract_file_features(path, window_s=WINDOW_S)
    excerpts = [
        extract_features(y=y, sr=SR, path=path)
        for y in excerpt_samples(path, duration_s=decoded.duration_s)
    ]
    return TrackFeatures(
        features,
        np.vstack(excerpts) if excerpts else np.zeros((0, features.shape[0])),
        float(decoded.duration_s),
    )


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """What the cache keeps of a track: `analyse` as named arrays."""
    result = analyse(path)
    return {
        "features": result.features,
        "excerpts": result.excerpts,
        "duration_s": np.asarray(result.duration_s),
    }


def _read(npz: Mapping[str, np.ndarray]) -> TrackFeatures:
    """A cached track back from its arrays."""
    return TrackFeatures(npz["features"], npz["excerpts"], float(npz["duration_s"]))


def load_features(
    tracks: list[Track], cache_dir: Path, *, workers: int
) -> tuple[list[Track], list[TrackFeatures], int]:
    """The tracks with features, their features, and how many were analysed now (the others
    were cached); an unreadable track is reported and left out."""
    return load_cached(
        tracks,
        cache_dir,
        version=code_version(),
        analyse=_arrays,
        read=_read,
        workers=workers,
        doing="analysed",
    )
