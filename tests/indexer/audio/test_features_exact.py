"""The one-pass extractor equals the straightforward one: one librosa call per feature."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bench.reference import reference_features
from indexer.audio.decode import decode_window
from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.audio.features import SR, extract_features
from tests.helpers import GTZAN_DIR, click, noise, silence, sine

DEMO = Path(__file__).resolve().parents[3] / "demo" / "library"

REAL_CLIPS = [
    GTZAN_DIR / "blues.00001.wav",
    GTZAN_DIR / "classical.00002.wav",
    GTZAN_DIR / "blues.00099.mp3",
    DEMO / "admiralbob77_-_Choice_-_Drum-bass.ogg",
]


def _assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    """Every feature within 1e-4 relative (measured with librosa 0.11: at most 4e-16)."""
    rel = np.abs(got - expected) / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
    worst = int(rel.argmax())
    assert rel[worst] <= 1e-4, f"{FEATURE_NAMES[worst]}: {got[worst]} != {expected[worst]}"


@pytest.mark.parametrize("path", REAL_CLIPS, ids=lambda p: p.name)
def test_real_clips_match_the_straightforward_extractor(path: Path) -> None:
    y = decode_window(path, sr=SR, window_s=30.0).y

    _assert_same(extract_features(y=y, sr=SR), reference_features(y=y, sr=SR))


@pytest.mark.parametrize(
    "make",
    [
        lambda: silence(seconds=2.0),
        lambda: noise(seconds=0.6),
        lambda: sine(440.0, seconds=7.3),
        lambda: click(seconds=3.0),
    ],
    ids=["silence", "short-noise", "odd-length-sine", "click"],
)
def test_degenerate_input_matches_the_straightforward_extractor(
    make: Callable[[], np.ndarray],
) -> None:
    y = make()

    _assert_same(extract_features(y=y, sr=SR), reference_features(y=y, sr=SR))
