"""The 57 GTZAN features of ``features_30_sec.csv``, computed the way that table was.

The recipe (one reflect-padded magnitude STFT shared by the spectral features and the MFCCs,
rms with reflect padding, hpss time signals, beat_track tempo) was measured against the Kaggle
table with librosa 0.11: on the GTZAN clips every value lands within 0.25% of its column's
spread over the table and tempo matches exactly. librosa's current default padding
(``pad_mode="constant"``) is up to 1% off, so padding is spelled out everywhere it matters.
The arithmetic is librosa's, repeated in :mod:`indexer.audio.spectral` without librosa's imports.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from indexer.audio import spectral
from indexer.audio.decode import Decoded, decode_window
from indexer.audio.feature_columns import FEATURE_NAMES, N_FEATURES, N_MFCC
from indexer.audio.hpss import hpss_signals
from indexer.errors import FeatureError, ParameterError, TooShortError

SR = 22050
"""The rate GTZAN was analysed at; features at other rates are not comparable with the table."""

MIN_DURATION_S = 0.5
"""Below this, the 2048-sample frames and the beat tracker have too little to describe."""

_N_FFT = 2048
_HOP_LENGTH = 512


def extract_features(*, y: np.ndarray, sr: int, path: str | Path = "<samples>") -> np.ndarray:
    """Compute the 57 GTZAN features of a mono signal, in ``FEATURE_NAMES`` order.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples; cast to float32 as ``librosa.load`` returns, which the table came from.
    sr : int
        Sample rate of ``y``; use ``SR`` (22050 Hz) to be comparable with the GTZAN table.
    path : str or Path
        Only used in error messages.

    Returns
    -------
    np.ndarray [shape=(57,), dtype=float64]
        Mean and variance of chroma_stft, rms, spectral centroid, bandwidth and rolloff,
        zero-crossing rate, harmonic and percussive signals, then tempo, then mean and variance
        of 20 MFCCs.

    Raises
    ------
    TooShortError
        ``y`` is shorter than ``MIN_DURATION_S``.
    FeatureError
        ``y`` or any feature is not finite.
    """
    series = _series(_checked(y, sr, path), sr)
    values = {"tempo": float(series.pop("tempo")[0])}
    mfcc = series.pop("mfcc")
    series.update({f"mfcc{i}": mfcc[i - 1] for i in range(1, N_MFCC + 1)})
    for name, x in series.items():
        values[f"{name}_mean"] = float(np.mean(x))
        values[f"{name}_var"] = float(np.var(x))
    features = np.array([values[name] for name in FEATURE_NAMES], dtype=np.float64)
    assert features.shape == (N_FEATURES,)

    bad = [name for name, v in zip(FEATURE_NAMES, features, strict=True) if not np.isfinite(v)]
    if bad:
        raise FeatureError(path, f"non-finite {', '.join(bad)}")
    return features


def feature_series(*, y: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """The frame-level series that :func:`extract_features` summarises, for plots and checks.

    Returns
    -------
    dict[str, np.ndarray]
        ``chroma_stft`` [shape=(12, t)], ``rms``, ``spectral_centroid``,
        ``spectral_bandwidth``, ``rolloff``, ``zero_crossing_rate`` [shape=(1, t)],
        ``harmony`` and ``perceptr`` [shape=(n,)], ``tempo`` [shape=(1,)] in BPM and
        ``mfcc`` [shape=(20, t)].
    """
    return _series(_checked(y, sr, "<samples>"), sr)


def _checked(y: np.ndarray, sr: int, path: str | Path) -> np.ndarray:
    """``y`` as float32 once it is known to be mono, long enough and finite."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"expected mono samples of shape (n,), got shape {y.shape}")
    if y.size < MIN_DURATION_S * sr:
        raise TooShortError(path, f"{y.size / sr:.2f} s of audio, need at least {MIN_DURATION_S} s")
    if not np.isfinite(y).all():
        raise FeatureError(path, "non-finite samples")
    return y.astype(np.float32, copy=False)


def _series(y: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    # One STFT serves every feature. The table's spectral features and MFCCs come from the
    # reflect-padded STFT; effects.hpss and beat_track each compute a constant-padded one. The
    # two differ only in the frames that reach into the padding, so those few are recomputed
    # with reflect padding. Everything else is derived as librosa's per-feature calls derive
    # it, so the values match those calls (tests/indexer/audio/test_features_exact.py).
    D = _stft(y, pad_mode="constant")
    S_const = np.abs(D)
    power_const = S_const**2
    mel_const = _mel(power_const, sr)
    S, edges = _reflect_edges(y, S_const)
    power = S**2
    mel = mel_const.copy()
    mel[:, edges] = _mel(power[:, edges], sr)
    harmonic, percussive = hpss_signals(D, n=y.size, n_fft=_N_FFT, hop_length=_HOP_LENGTH)
    # spectral_bandwidth computes this same centroid itself unless given it.
    centroid = spectral.spectral_centroid(S=S, sr=sr)
    frames = {"frame_length": _N_FFT, "hop_length": _HOP_LENGTH}
    return {
        "chroma_stft": _chroma(power, sr),
        "rms": spectral.rms(y=y, **frames),
        "spectral_centroid": centroid,
        "spectral_bandwidth": spectral.spectral_bandwidth(S=S, sr=sr, centroid=centroid),
        "rolloff": spectral.spectral_rolloff(S=S, sr=sr),
        "zero_crossing_rate": spectral.zero_crossing_rate(y, **frames),
        "harmony": harmonic,
        "perceptr": percussive,
        "tempo": np.array([_tempo(mel_const, sr)], dtype=np.float64),
        "mfcc": spectral.mfcc(S_db=spectral.power_to_db(mel), n_mfcc=N_MFCC),
    }


def _stft(y: np.ndarray, *, pad_mode: str) -> np.ndarray:
    return spectral.stft(y, n_fft=_N_FFT, hop_length=_HOP_LENGTH, pad_mode=pad_mode)


def _reflect_edges(y: np.ndarray, S_const: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reflect-padded magnitude STFT, from the constant-padded one and its edge frames.

    Returns the spectrogram and the indices of the frames that differ (those whose window
    reaches past either end of ``y``). Frame ``t`` is centred on sample ``t * hop``; a short
    STFT over the first and last few thousand samples gives those frames with the same padding
    as the full one, since reflect padding at one end never reaches the other end's frames.
    """
    n_frames = S_const.shape[-1]
    half = _N_FFT // 2
    first_tail = next(t for t in range(n_frames) if t * _HOP_LENGTH + half > y.size)
    head = [t for t in range(n_frames) if t * _HOP_LENGTH < half]
    # Start the tail chunk on a frame boundary, four frames before the first padded one, so the
    # chunk's own head padding touches only frames that are not used (and it spans > n_fft).
    start_frame = first_tail - 4
    if start_frame <= head[-1] + 8:
        return np.abs(_stft(y, pad_mode="reflect")), np.arange(n_frames)
    head_chunk = y[: (head[-1] + 4) * _HOP_LENGTH + half]
    tail_chunk = y[start_frame * _HOP_LENGTH :]
    S = S_const.copy()
    S[:, head] = np.abs(_stft(head_chunk, pad_mode="reflect"))[:, head]
    S[:, first_tail:] = np.abs(_stft(tail_chunk, pad_mode="reflect"))[:, 4:]
    return S, np.array(head + list(range(first_tail, n_frames)))


def _chroma(power: np.ndarray, sr: int) -> np.ndarray:
    """``feature.chroma_stft(S=power, sr=sr)``, its filter bank built once per tuning."""
    with warnings.catch_warnings():
        # Silence or a bare DC offset has no spectral peaks to estimate tuning from; librosa
        # warns and assumes a tuning of 0, which is the right answer for such input.
        warnings.filterwarnings(
            "ignore",
            message="Trying to estimate tuning from empty frequency set",
            category=UserWarning,
        )
        tuning = spectral.estimate_tuning(S=power, sr=sr, bins_per_octave=12)
    # estimate_tuning resolves to 0.01 of a bin, so at most 100 banks are ever built.
    basis = spectral.chroma_basis(sr=sr, n_fft=_N_FFT, tuning=tuning)
    raw = np.einsum("cf,...ft->...ct", basis, power, optimize=True)
    return spectral.normalize(raw, norm=np.inf, axis=-2)


def _mel(power: np.ndarray, sr: int) -> np.ndarray:
    """``feature.melspectrogram(S=power, sr=sr)`` (128 bands up to sr/2), basis built once."""
    return spectral.melspectrogram(S=power, sr=sr)


def _tempo(mel: np.ndarray, sr: int) -> float:
    """``librosa.beat.beat_track(y=y, sr=sr)[0]`` from the constant-padded mel spectrogram.

    beat_track's tempo is ``feature.tempo`` of a median-aggregated onset envelope (0 when the
    envelope is flat); the beat positions it also tracks are not needed, so that pass is skipped.
    """
    envelope = spectral.onset_envelope(
        S_db=spectral.power_to_db(mel), n_fft=_N_FFT, hop_length=_HOP_LENGTH
    )
    if not envelope.any():
        return 0.0
    return spectral.tempo(onset_envelope=envelope, sr=sr, hop_length=_HOP_LENGTH)


def extract_file_features(path: Path, *, window_s: float = 30.0) -> tuple[np.ndarray, Decoded]:
    """Decode the middle ``window_s`` seconds of ``path`` at ``SR`` and compute its features.

    Returns
    -------
    features : np.ndarray [shape=(57,), dtype=float64]
    decoded : Decoded
        The analysed window, so callers can record duration and offset without decoding again.

    Raises
    ------
    DecodeError, TooShortError, FeatureError
        Each naming ``path``.
    """
    decoded = decode_window(path, sr=SR, window_s=window_s)
    return extract_features(y=decoded.y, sr=decoded.sr, path=path), decoded
