"""The fast median filter and HPSS against scipy's and librosa's, on a real clip."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.ndimage

from indexer.audio import hpss
from indexer.audio.decode import decode_window
from indexer.audio.hpss import hpss_signals, median_filter
from tests.helpers import GTZAN_DIR


@pytest.fixture(autouse=True, params=["bottleneck", "numba"])
def median(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with bottleneck's median, then with the compiled kernel (numba is in dev)."""
    monkeypatch.setattr(hpss, "_kernel", None)  # restored after the test
    if request.param == "numba":
        assert hpss.load_median_kernel()
    return request.param


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """Ten seconds of a real GTZAN clip at 22050 Hz."""
    return decode_window(GTZAN_DIR / "blues.00001.wav", sr=22050, window_s=10.0).y


@pytest.mark.parametrize("n_samples", [5_000, 8_000, 11_025, None])
@pytest.mark.parametrize(("axis", "shape"), [(-1, (1, 31)), (-2, (31, 1))])
def test_median_filter_equals_scipy_bit_for_bit(
    clip: np.ndarray, n_samples: int | None, axis: int, shape: tuple[int, int]
) -> None:
    # 5000 samples give 10 frames (narrower than half the window: scipy's own path),
    # 8000 give 16 (just wide enough for one reflection).
    S = np.abs(librosa.stft(clip[:n_samples]))

    expected = scipy.ndimage.median_filter(S, size=shape, mode="reflect")
    got = median_filter(S, size=31, axis=axis)

    assert got.dtype == expected.dtype
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("axis", [-1, -2])
def test_median_filter_with_ties_and_float64_equals_scipy(clip: np.ndarray, axis: int) -> None:
    # Coarse steps make most windows hold repeated values, including the one leaving.
    S = np.round(np.abs(librosa.stft(clip[:40_000])) * 4).astype(np.float64) / 4
    shape = (1, 31) if axis == -1 else (31, 1)

    got = median_filter(S, size=31, axis=axis)

    assert got.dtype == np.float64
    assert np.array_equal(got, scipy.ndimage.median_filter(S, size=shape, mode="reflect"))


def test_hpss_signals_equal_librosa_effects_hpss(clip: np.ndarray, median: str) -> None:
    harmonic, percussive = librosa.effects.hpss(clip)

    got_h, got_p = hpss_signals(librosa.stft(clip), n=clip.size)
    assert (hpss._kernel is None) == (median == "bottleneck")

    assert got_h.dtype == harmonic.dtype
    assert np.array_equal(got_h, harmonic)
    assert np.array_equal(got_p, percussive)


def test_even_window_is_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        median_filter(np.zeros((4, 40), dtype=np.float32), size=30, axis=-1)
