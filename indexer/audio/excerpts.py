"""One file in, what the real-music evaluation needs out: the analysis window and two excerpts.

`soundalike evaluate --audio` asks two things of every track: do tracks of one group sit near
each other (the window the library would index), and do two disjoint excerpts of one track
find each other (the middle 30 s of each half). All three windows come from one decode, and
each gives the 57 features and the network's description from the same samples, as indexing
does. Kept in `audio` and free of FAISS and the database, like `indexer.audio.analyse`, so a
worker process imports only what it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.audio.analyse import describe_sound
from indexer.audio.decode import decode_window
from indexer.audio.embedding import STORED_DIM
from indexer.audio.feature_columns import N_FEATURES
from indexer.audio.features import SR, extract_features
from indexer.audio.file_tags import read_tags
from indexer.errors import FileError, ParameterError

WINDOW_S = 30.0
"""The analysis window and each excerpt, as `soundalike index` analyses a track."""
EXCERPT_MIN_S = 70.0
"""Tracks at least this long give two excerpts: two 30-s halves' middles, 10 s or more apart."""
MIN_DURATION_S = 20.0
"""Shorter files are left out: in game soundtracks and albums alike they are jingles and effects."""
MAX_DECODE_S = 900.0
"""At most the middle 15 min of a track is decoded, so an hour-long mix costs no more memory."""
# `decode_window` keeps a track whole up to one window plus this slack (GTZAN's 30.6-s clips).
_WHOLE_SLACK_S = 1.0


@dataclass(frozen=True)
class TrackAnalysis:
    """One track's vectors for the evaluation, with the tags that can group it."""

    path: str
    duration_s: float
    artist: str | None
    album: str | None
    features: np.ndarray
    """np.ndarray [shape=(57,)]: the analysis window's features, as the library stores them."""
    embedding: np.ndarray | None
    """np.ndarray [shape=(400,)]: the network's embedding of the same window; None if too short."""
    excerpt_features: np.ndarray
    """np.ndarray [shape=(2, 57)] for a long track, [shape=(0, 57)] otherwise."""
    excerpt_embeddings: np.ndarray
    """np.ndarray [shape=(2, 400)] or [shape=(0, 400)], in step with ``excerpt_features``."""


@dataclass(frozen=True)
class ShortTrack:
    """A file left out because it is shorter than the evaluation's minimum."""

    path: str
    duration_s: float


@dataclass(frozen=True)
class Unreadable:
    """A file that could not be analysed, and why."""

    path: str
    reason: str


def window_bounds(n: int, *, sr: int, window_s: float) -> tuple[int, int]:
    """The analysis window of ``n`` samples, as `decode_window` picks it: the middle ``window_s``
    seconds, or everything when the track is at most one window (plus slack) long."""
    if n <= round((window_s + _WHOLE_SLACK_S) * sr):
        return 0, n
    length = round(window_s * sr)
    start = (n - length) // 2
    return start, start + length


def excerpt_bounds(n: int, *, sr: int, window_s: float) -> list[tuple[int, int]]:
    """Two disjoint ``window_s`` excerpts of ``n`` samples: the middle of each half."""
    half, length = n // 2, round(window_s * sr)
    if half < length:
        raise ParameterError(f"{n / sr:.1f} s is too short for two {window_s:g}-s excerpts")
    offset = (half - length) // 2
    return [(start + offset, start + offset + length) for start in (0, half)]


def check_windows(*, window_s: float, excerpt_min_s: float) -> None:
    """`ParameterError` unless a track of ``excerpt_min_s`` holds two disjoint windows."""
    if window_s <= 0 or excerpt_min_s < 2 * window_s:
        raise ParameterError(
            f"excerpts of {window_s:g} s need window_s > 0 and tracks of at least "
            f"{2 * window_s:g} s, not {excerpt_min_s:g} s"
        )


def analyse_track(
    path: Path,
    *,
    window_s: float = WINDOW_S,
    excerpt_min_s: float = EXCERPT_MIN_S,
    min_duration_s: float = MIN_DURATION_S,
) -> TrackAnalysis | ShortTrack:
    """Decode ``path`` once and describe its window and, if long enough, its two excerpts.

    Raises
    ------
    FileError
        Naming ``path``, when it cannot be decoded or described.
    """
    check_windows(window_s=window_s, excerpt_min_s=excerpt_min_s)
    decoded = decode_window(path, sr=SR, window_s=max(MAX_DECODE_S, excerpt_min_s))
    if decoded.duration_s < min_duration_s:
        return ShortTrack(str(path), float(decoded.duration_s))
    lo, hi = window_bounds(len(decoded.y), sr=SR, window_s=window_s)
    features, embedding = _describe(decoded.y[lo:hi], path)
    excerpt_features = np.zeros((0, N_FEATURES))
    excerpt_embeddings = np.zeros((0, STORED_DIM), dtype=np.float32)
    if decoded.duration_s >= excerpt_min_s:
        described = [
            _describe(decoded.y[a:b], path)
            for a, b in excerpt_bounds(len(decoded.y), sr=SR, window_s=window_s)
        ]
        excerpt_features = np.vstack([f for f, _ in described])
        if all(e is not None for _, e in described):
            excerpt_embeddings = np.vstack([e for _, e in described])
    tags = read_tags(path)
    return TrackAnalysis(
        path=str(path),
        duration_s=float(decoded.duration_s),
        artist=tags.artist,
        album=tags.album,
        features=features,
        embedding=embedding,
        excerpt_features=excerpt_features,
        excerpt_embeddings=excerpt_embeddings,
    )


def _describe(y: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The 57 features and the network's embedding of one stretch of samples."""
    sound = describe_sound(y, SR, path)
    return extract_features(y=y, sr=SR, path=path), None if sound is None else sound.embedding


def analyse_for_evaluation(
    path: Path, window_s: float, excerpt_min_s: float, min_duration_s: float
) -> TrackAnalysis | ShortTrack | Unreadable:
    """Worker entry point: the analysis, a short track, or the reason the file is unreadable."""
    try:
        return analyse_track(
            path, window_s=window_s, excerpt_min_s=excerpt_min_s, min_duration_s=min_duration_s
        )
    except FileError as exc:
        return Unreadable(str(path), exc.reason)
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop the evaluation
        return Unreadable(str(path), f"unexpected {type(exc).__name__}: {exc}")
