"""Each of librosa's calls repeated without librosa gives librosa's numbers, on a real clip."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal

from indexer.audio import spectral
from indexer.audio.decode import decode_window
from tests.helpers import GTZAN_DIR, silence

SR = 22050
HOP = 512
N_FFT = 2048


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """Eight seconds of a real GTZAN clip at 22050 Hz, float32."""
    return decode_window(GTZAN_DIR / "blues.00002.wav", sr=SR, window_s=8.0).y


@pytest.fixture(scope="module")
def power(clip: np.ndarray) -> np.ndarray:
    return np.abs(librosa.stft(clip, pad_mode="reflect")) ** 2


def test_hann_window_is_scipys_bit_for_bit() -> None:
    for n in (N_FFT, 344):
        assert np.array_equal(spectral.hann(n), scipy.signal.get_window("hann", n, fftbins=True))


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
@pytest.mark.parametrize("n_samples", [11_025, 100_001, None])
def test_stft_equals_librosa(clip: np.ndarray, pad_mode: str, n_samples: int | None) -> None:
    y = clip[:n_samples]
    expected = librosa.stft(y, n_fft=N_FFT, hop_length=HOP, pad_mode=pad_mode)

    got = spectral.stft(y, n_fft=N_FFT, hop_length=HOP, pad_mode=pad_mode)

    assert got.dtype == expected.dtype == np.complex64
    # The same float64 FFT per frame, rounded to complex64: measured bit-identical.
    assert np.array_equal(got, expected)


def test_istft_and_magphase_equal_librosa(clip: np.ndarray) -> None:
    D = librosa.stft(clip[:50_001])

    mag, phase = spectral.magphase(D)
    expected_mag, expected_phase = librosa.magphase(D)
    got = spectral.istft(D, n_fft=N_FFT, hop_length=HOP, length=50_001)
    expected = librosa.istft(D, n_fft=N_FFT, hop_length=HOP, length=50_001)

    assert np.array_equal(mag, expected_mag)
    assert np.array_equal(phase, expected_phase)
    assert got.dtype == expected.dtype == np.float32
    assert np.array_equal(got, expected)


def test_filter_banks_equal_librosa() -> None:
    assert np.array_equal(
        spectral.mel_basis(sr=SR, n_fft=N_FFT), librosa.filters.mel(sr=SR, n_fft=N_FFT)
    )
    for tuning in (0.0, -0.13, 0.27):
        expected = librosa.filters.chroma(sr=SR, n_fft=N_FFT, tuning=tuning, n_chroma=12)
        assert np.array_equal(spectral.chroma_basis(sr=SR, n_fft=N_FFT, tuning=tuning), expected)


def test_tuning_equals_librosa(power: np.ndarray) -> None:
    expected = librosa.estimate_tuning(S=power, sr=SR, bins_per_octave=12)

    assert spectral.estimate_tuning(S=power, sr=SR) == expected
    with pytest.warns(UserWarning, match="empty frequency set"):
        assert spectral.estimate_tuning(S=np.zeros_like(power), sr=SR) == 0.0


def test_spectral_shape_features_equal_librosa(power: np.ndarray) -> None:
    S = np.sqrt(power)
    centroid = spectral.spectral_centroid(S=S, sr=SR)

    np.testing.assert_array_equal(centroid, librosa.feature.spectral_centroid(S=S, sr=SR))
    np.testing.assert_array_equal(
        spectral.spectral_bandwidth(S=S, sr=SR, centroid=centroid),
        librosa.feature.spectral_bandwidth(S=S, sr=SR),
    )
    np.testing.assert_array_equal(
        spectral.spectral_rolloff(S=S, sr=SR), librosa.feature.spectral_rolloff(S=S, sr=SR)
    )


@pytest.mark.parametrize("which", ["clip", "silence"])
def test_frame_features_equal_librosa(clip: np.ndarray, which: str) -> None:
    y = clip if which == "clip" else silence(seconds=2.0)
    frames = {"frame_length": N_FFT, "hop_length": HOP}

    np.testing.assert_array_equal(
        spectral.rms(y=y, **frames), librosa.feature.rms(y=y, pad_mode="reflect")
    )
    np.testing.assert_array_equal(
        spectral.zero_crossing_rate(y, **frames), librosa.feature.zero_crossing_rate(y)
    )


def test_mfcc_onsets_and_tempo_equal_librosa(clip: np.ndarray, power: np.ndarray) -> None:
    mel = librosa.feature.melspectrogram(S=power, sr=SR)
    S_db = librosa.power_to_db(mel)
    envelope = librosa.onset.onset_strength(S=S_db, sr=SR, aggregate=np.median)

    assert np.array_equal(spectral.power_to_db(mel), S_db)
    assert np.array_equal(
        spectral.mfcc(S_db=S_db, n_mfcc=20), librosa.feature.mfcc(S=S_db, n_mfcc=20)
    )
    got_envelope = spectral.onset_envelope(S_db=S_db, n_fft=N_FFT, hop_length=HOP)
    assert np.array_equal(got_envelope, envelope)
    expected_tempo = librosa.feature.tempo(onset_envelope=envelope, sr=SR, hop_length=HOP)[0]
    assert spectral.tempo(onset_envelope=envelope, sr=SR, hop_length=HOP) == expected_tempo


@pytest.mark.parametrize(
    ("sr", "n_fft", "hop_length", "n_mels"),
    [(16000, 512, 256, 96), (SR, N_FFT, HOP, 128)],
    ids=["musicnn-front-end", "gtzan-features"],
)
def test_melspectrogram_equals_librosa(sr: int, n_fft: int, hop_length: int, n_mels: int) -> None:
    y = decode_window(GTZAN_DIR / "blues.00002.wav", sr=sr, window_s=8.0).y
    expected = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
    )

    D = spectral.stft(y, n_fft=n_fft, hop_length=hop_length, pad_mode="constant")
    got = spectral.melspectrogram(S=np.abs(D) ** 2, sr=sr, n_mels=n_mels)

    assert got.dtype == expected.dtype == np.float32
    assert got.shape == expected.shape == (n_mels, 1 + y.size // hop_length)
    # The same power spectrogram (the STFT is librosa's bit for bit) and the same einsum: measured
    # bit-identical. A band is a float32 sum of 1 + n_fft // 2 non-negative products, which a
    # matrix product may add in another order; any order stays within (terms - 1) roundings of
    # the exact sum, so two orders differ by at most twice that, relative.
    terms = 1 + n_fft // 2
    rtol = 2 * (terms - 1) * np.finfo(np.float32).epsneg
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)
