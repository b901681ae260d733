"""The librosa 0.11 calls the features make, as numpy arithmetic without librosa's imports.

Importing any of librosa's DSP brings ``scipy.signal``, ``scipy.stats``, ``scipy.ndimage`` and
numba with it, and the first call loads numba kernels from disk: about 1.7 CPU s before the first
sample is analysed, ten times the analysis of a 30-s clip. ``soundalike features`` on one file
paid it every time. Each function here repeats its librosa namesake operation for operation, in
the same dtypes and with the same FFT library (``scipy.fft``), so the values agree to the last bit
or within float32 rounding; ``tests/indexer/audio/test_spectral.py`` holds each to librosa's, and
``test_features_exact.py`` holds the 57 features to one librosa call per feature.
Only the parameters the GTZAN recipe and musicnn's front end use are kept (Hann windows, centred
frames, Slaney mels).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

AMIN = 1e-10
"""``power_to_db``'s floor: silence comes out at -100 dB."""
TOP_DB = 80.0


@functools.cache
def hann(n: int) -> np.ndarray:
    """``scipy.signal.get_window("hann", n, fftbins=True)``: periodic, float64, same bits."""
    fac = np.linspace(-np.pi, np.pi, n + 1, dtype=np.float64)
    w = np.zeros(n + 1, dtype=np.float64)
    for k, a in enumerate(np.asarray([0.5, 0.5])):
        w += a * np.cos(k * fac)
    w = w[:-1]
    w.flags.writeable = False
    return w


def frame(x: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """``util.frame`` of a 1-d signal: a view [shape=(frame_length, n_frames)]."""
    return sliding_window_view(x, frame_length).T[:, ::hop_length]


def stft(
    y: np.ndarray, *, n_fft: int, hop_length: int, pad_mode: str, center: bool = True
) -> np.ndarray:
    """``librosa.stft(y, n_fft=, hop_length=, pad_mode=, center=)`` of float32 ``y``: complex64.

    librosa pads only the ends and frames in blocks; the frames, their float64 windowed FFT and
    the rounding to complex64 are the same taken all at once. With ``center=False`` nothing is
    padded: frame t starts at sample t * hop_length, so a stretch of an already padded signal
    gives exactly those frames of the whole one.
    """
    padded = np.pad(y, (n_fft // 2, n_fft // 2), mode=pad_mode) if center else y
    frames = frame(padded, frame_length=n_fft, hop_length=hop_length)
    out = np.zeros((1 + n_fft // 2, frames.shape[-1]), dtype=np.complex64, order="F")
    out[:] = scipy.fft.rfft(hann(n_fft)[:, np.newaxis] * frames, axis=-2)
    return out


def istft(D: np.ndarray, *, n_fft: int, hop_length: int, length: int) -> np.ndarray:
    """``librosa.istft(D, n_fft=, hop_length=, length=)`` of a complex64 STFT: float32.

    librosa overlap-adds frame after frame into a float32 buffer; adding each quarter of every
    frame at once, in the same frame order for every sample, rounds the same way.
    """
    padded_length = length + 2 * (n_fft // 2)
    n_frames = min(D.shape[-1], int(np.ceil(padded_length / hop_length)))
    window = hann(n_fft)
    frames = window[:, np.newaxis] * scipy.fft.irfft(D[:, :n_frames], n=n_fft, axis=-2)
    y = _overlap_add(frames, hop_length=hop_length)
    window_sum = _window_sum(n_fft=n_fft, hop_length=hop_length, n_frames=n_frames)
    start = n_fft // 2
    y = y[start : start + length]
    window_sum = window_sum[start : start + length]
    if y.size < length:
        y = np.pad(y, (0, length - y.size))
        window_sum = np.pad(window_sum, (0, length - window_sum.size))
    nonzero = window_sum > np.finfo(np.float32).tiny
    y[nonzero] /= window_sum[nonzero]
    return y


@functools.lru_cache(maxsize=8)
def _window_sum(*, n_fft: int, hop_length: int, n_frames: int) -> np.ndarray:
    """The squared Hann windows overlap-added, as istft divides by; read-only. It depends on the
    frame count alone, and every analysis window of a library has the same one."""
    window = hann(n_fft)
    total = _overlap_add(
        np.broadcast_to((window**2)[:, np.newaxis], (n_fft, n_frames)), hop_length=hop_length
    )
    total.flags.writeable = False
    return total


def _overlap_add(frames: np.ndarray, *, hop_length: int) -> np.ndarray:
    """Sum ``frames`` [shape=(n_fft, t)] ``hop_length`` apart into float32, in frame order."""
    n_fft, n_frames = frames.shape
    if n_fft % hop_length:
        raise ValueError(f"n_fft={n_fft} is not a multiple of hop_length={hop_length}")
    parts = n_fft // hop_length
    blocks = np.zeros((n_frames + parts - 1, hop_length), dtype=np.float32)
    # Block b receives part q of frame b - q; the later the frame, the smaller q.
    for q in reversed(range(parts)):
        blocks[q : q + n_frames] += frames[q * hop_length : (q + 1) * hop_length].T
    return blocks.reshape(-1)


def magphase(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``librosa.magphase(D)``: magnitude, and unit phase (1 where the magnitude is 0)."""
    mag = np.abs(D)
    zeros_to_ones = mag == 0
    mag_nonzero = mag + zeros_to_ones
    phase = np.empty_like(D)
    phase.real = D.real / mag_nonzero + zeros_to_ones
    phase.imag = D.imag / mag_nonzero
    return mag, phase


def power_to_db(S: np.ndarray) -> np.ndarray:
    """``librosa.power_to_db(S)``: ref 1, amin 1e-10, top_db 80."""
    log_spec = 10.0 * np.log10(np.maximum(AMIN, S))
    log_spec -= 10.0 * np.log10(np.maximum(AMIN, 1.0))
    return np.maximum(log_spec, log_spec.max() - TOP_DB)


def normalize(S: np.ndarray, *, norm: float, axis: int) -> np.ndarray:
    """``librosa.util.normalize(S, norm=, axis=)`` for norm 1, 2 or inf; all-zero slices stay 0."""
    mag = np.abs(S).astype(float)
    if norm == np.inf:
        length = np.max(mag, axis=axis, keepdims=True)
    else:
        length = np.sum(mag**norm, axis=axis, keepdims=True) ** (1.0 / norm)
    length[length < np.finfo(S.dtype).tiny] = 1.0
    out = np.empty_like(S)
    out[:] = S / length
    return out


def fft_frequencies(*, sr: float, n_fft: int) -> np.ndarray:
    """Centre frequency of each STFT bin, in Hz."""
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float) -> float:
    if hz >= _MIN_LOG_HZ:
        return _MIN_LOG_MEL + np.log(hz / _MIN_LOG_HZ) / _LOGSTEP
    return hz / _F_SP


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    hz = _F_SP * mels
    log_t = mels >= _MIN_LOG_MEL
    hz[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_t] - _MIN_LOG_MEL))
    return hz


@functools.cache
def mel_basis(*, sr: float, n_fft: int, n_mels: int = 128) -> np.ndarray:
    """``librosa.filters.mel(sr=, n_fft=, n_mels=)``: Slaney mels, 0 to sr/2, Slaney norm."""
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(float(sr) / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_frequencies(sr=sr, n_fft=n_fft))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    weights.flags.writeable = False
    return weights


def melspectrogram(*, S: np.ndarray, sr: float, n_mels: int = 128) -> np.ndarray:
    """``feature.melspectrogram(S=S, sr=, n_mels=)`` of a power spectrogram, the basis cached.

    Parameters
    ----------
    S : np.ndarray [shape=(1 + n_fft // 2, t)]
        Power (squared magnitude) STFT; ``n_fft`` is read from its height.
    sr : float
        Sample rate the STFT was taken at.
    n_mels : int
        Mel bands from 0 Hz to ``sr / 2``.

    Returns
    -------
    np.ndarray [shape=(n_mels, t)]
    """
    basis = mel_basis(sr=sr, n_fft=2 * (S.shape[-2] - 1), n_mels=n_mels)
    return np.einsum("...ft,mf->...mt", S, basis, optimize=True)


def _hz_to_octs(
    frequencies: np.ndarray, *, tuning: float = 0.0, bins_per_octave: int
) -> np.ndarray:
    a440 = 440.0 * 2.0 ** (tuning / bins_per_octave)
    return np.log2(np.asanyarray(frequencies) / (float(a440) / 16))


@functools.cache
def chroma_basis(*, sr: float, n_fft: int, tuning: float, n_chroma: int = 12) -> np.ndarray:
    """``librosa.filters.chroma(sr=, n_fft=, tuning=)``: octave-weighted around C5, from C."""
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * _hz_to_octs(frequencies, tuning=tuning, bins_per_octave=n_chroma)
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    D = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    n_chroma2 = np.round(float(n_chroma) / 2)
    D = np.remainder(D + n_chroma2 + 10 * n_chroma, n_chroma) - n_chroma2
    wts = np.exp(-0.5 * (2 * D / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    wts = normalize(wts, norm=2, axis=0)
    ctroct, octwidth = 5.0, 2
    wts *= np.tile(np.exp(-0.5 * ((frqbins / n_chroma - ctroct) / octwidth) ** 2), (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    out = np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)], dtype=np.float32)
    out.flags.writeable = False
    return out


def estimate_tuning(*, S: np.ndarray, sr: float, bins_per_octave: int = 12) -> float:
    """``librosa.estimate_tuning(S=power, sr=)``: piptrack's peaks, histogram of their offsets.

    Returns 0.0 for a spectrogram without peaks, where librosa warns (the warning is kept).
    """
    pitch, mag = _piptrack(S=S, sr=sr)
    pitch_mask = pitch > 0
    threshold = np.median(mag[pitch_mask]) if pitch_mask.any() else 0.0
    frequencies = pitch[(mag >= threshold) & pitch_mask]
    frequencies = frequencies[frequencies > 0]
    if not np.any(frequencies):
        warnings.warn("Trying to estimate tuning from empty frequency set.", stacklevel=2)
        return 0.0
    residual = np.mod(bins_per_octave * _hz_to_octs(frequencies, bins_per_octave=12), 1.0)
    residual[residual >= 0.5] -= 1.0
    bins = np.linspace(-0.5, 0.5, int(np.ceil(1.0 / 0.01)) + 1)
    counts, tuning = np.histogram(residual, bins)
    return float(tuning[np.argmax(counts)])


def _piptrack(*, S: np.ndarray, sr: float) -> tuple[np.ndarray, np.ndarray]:
    """``librosa.piptrack(S=S, sr=sr)`` with its defaults (150-4000 Hz, threshold 0.1)."""
    S = np.abs(S)
    n_fft = 2 * (S.shape[-2] - 1)
    fmin, fmax = 150.0, min(4000.0, float(sr) / 2)
    fft_freqs = fft_frequencies(sr=sr, n_fft=n_fft)
    avg = np.gradient(S, axis=-2)
    shift = _parabolic_shift(S)
    dskew = 0.5 * avg * shift
    pitches = np.zeros_like(S)
    mags = np.zeros_like(S)
    freq_mask = ((fmin <= fft_freqs) & (fft_freqs < fmax))[:, np.newaxis]
    ref_value = np.expand_dims(0.1 * np.max(S, axis=-2), -2)
    idx = np.nonzero(freq_mask & _localmax(S * (S > ref_value)))
    pitches[idx] = (idx[-2] + shift[idx]) * float(sr) / n_fft
    mags[idx] = S[idx] + dskew[idx]
    return pitches, mags


def _parabolic_shift(S: np.ndarray) -> np.ndarray:
    """librosa's parabolic-interpolation stencil down axis 0 (0 at the edges).

    The stencil's ``2 * x[0]`` and ``/ 2`` mix float32 with integers, which numba computes in
    float64; so does this, before storing float32 as the stencil does.
    """
    below, centre, above = S[:-2], S[1:-1], S[2:]
    a = (above + below).astype(np.float64) - 2 * centre.astype(np.float64)
    b = (above - below).astype(np.float64) / 2
    shift = np.zeros_like(S)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift[1:-1] = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a)
    return shift


def _localmax(x: np.ndarray) -> np.ndarray:
    """``librosa.util.localmax(x, axis=0)``: above the one before, at least the one after."""
    out = np.zeros(x.shape, dtype=bool)
    out[1:-1] = (x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])
    out[-1] = x[-1] > x[-2]
    return out


def spectral_centroid(*, S: np.ndarray, sr: float) -> np.ndarray:
    """``feature.spectral_centroid(S=, sr=)`` [shape=(1, t)]."""
    freq = fft_frequencies(sr=sr, n_fft=2 * (S.shape[-2] - 1))[:, np.newaxis]
    return np.sum(freq * normalize(S, norm=1, axis=-2), axis=-2, keepdims=True)


def spectral_bandwidth(*, S: np.ndarray, sr: float, centroid: np.ndarray) -> np.ndarray:
    """``feature.spectral_bandwidth(S=, sr=, centroid=)`` (p = 2) [shape=(1, t)]."""
    freq = fft_frequencies(sr=sr, n_fft=2 * (S.shape[-2] - 1))
    deviation = np.abs(np.subtract.outer(centroid[..., 0, :], freq).swapaxes(-2, -1))
    return np.sum(normalize(S, norm=1, axis=-2) * deviation**2, axis=-2, keepdims=True) ** 0.5


def spectral_rolloff(*, S: np.ndarray, sr: float, roll_percent: float = 0.85) -> np.ndarray:
    """``feature.spectral_rolloff(S=, sr=)`` [shape=(1, t)]."""
    freq = fft_frequencies(sr=sr, n_fft=2 * (S.shape[-2] - 1))[:, np.newaxis]
    total_energy = np.cumsum(S, axis=-2)
    threshold = np.expand_dims(roll_percent * total_energy[..., -1, :], axis=-2)
    ind = np.where(total_energy < threshold, np.nan, 1)
    return np.nanmin(ind * freq, axis=-2, keepdims=True)


def rms(*, y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """``feature.rms(y=, pad_mode="reflect")`` [shape=(1, t)], float32."""
    half = frame_length // 2
    x = frame(
        np.pad(y, (half, half), mode="reflect"), frame_length=frame_length, hop_length=hop_length
    )
    return np.sqrt(np.mean(np.square(x, dtype=np.float32), axis=-2, keepdims=True))


def zero_crossing_rate(y: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """``feature.zero_crossing_rate(y)`` [shape=(1, t)]: |y| <= 1e-10 counts as +0.

    librosa marks, in every frame, each sample whose sign differs from the one before it (the
    frame's first sample never counts) and takes the mean. The marks depend only on the two
    samples, so they are found once over the signal and counted per frame from their running
    total: the same integer counts, divided the same way, for a fraction of the work.
    """
    half = frame_length // 2
    x = np.pad(y, (half, half), mode="edge")
    threshold = np.asarray(1e-10, dtype=y.dtype)
    negative = np.signbit(x) & ~((-threshold <= x) & (x <= threshold))
    # crossings_before[i]: crossings at samples 1..i.
    crossings_before = np.zeros(x.size, dtype=np.int64)
    np.cumsum(negative[1:] != negative[:-1], out=crossings_before[1:])
    starts = np.arange(1 + (x.size - frame_length) // hop_length) * hop_length
    counts = crossings_before[starts + frame_length - 1] - crossings_before[starts]
    return (counts / np.float64(frame_length))[np.newaxis, :]


def mfcc(*, S_db: np.ndarray, n_mfcc: int) -> np.ndarray:
    """``feature.mfcc(S=S_db, n_mfcc=)``: orthonormal DCT-II of a dB mel spectrogram."""
    return scipy.fft.dct(S_db, axis=-2, type=2, norm="ortho")[..., :n_mfcc, :]


def onset_envelope(*, S_db: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """``onset.onset_strength(S=S_db, aggregate=np.median)`` [shape=(t,)]: lag 1, centred."""
    onset_env = np.maximum(0.0, S_db[..., 1:] - S_db[..., :-1])
    aggregated = np.empty((1, onset_env.shape[-1]), dtype=onset_env.dtype)
    aggregated[0] = np.median(onset_env, axis=-2)
    pad_width = 1 + n_fft // (2 * hop_length)
    return np.pad(aggregated, [(0, 0), (pad_width, 0)], mode="constant")[0, : S_db.shape[-1]]


def tempo(*, onset_envelope: np.ndarray, sr: float, hop_length: int) -> float:
    """``feature.tempo(onset_envelope=, sr=, hop_length=)`` in BPM: the tempogram's best period.

    An 8-s autocorrelation tempogram, averaged over time, weighted by a log-normal prior around
    120 BPM and limited to 320 BPM.
    """
    win_length = int(int(8.0 * sr) // hop_length)
    n = onset_envelope.shape[-1]
    half = win_length // 2
    padded = np.pad(onset_envelope, (half, half), mode="linear_ramp", end_values=[0, 0])
    odf_frame = frame(padded, frame_length=win_length, hop_length=1)[..., :n]
    windowed = odf_frame * hann(win_length)[:, np.newaxis]
    n_pad = scipy.fft.next_fast_len(2 * win_length - 1, real=True)
    spectrum = scipy.fft.rfft(windowed, n=n_pad, axis=-2)
    autocorr = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n_pad, axis=-2)
    tg = normalize(autocorr[:win_length], norm=np.inf, axis=-2)
    tg = np.mean(tg, axis=-1, keepdims=True)
    bpms = np.zeros(win_length, dtype=np.float64)
    bpms[0] = np.inf
    bpms[1:] = 60.0 * sr / (hop_length * np.arange(1.0, win_length))
    logprior = -0.5 * ((np.log2(bpms) - np.log2(120)) / 1.0) ** 2
    logprior[: int(np.argmax(bpms < 320.0))] = -np.inf
    best_period = np.argmax(np.log1p(1000000.0 * tg) + logprior[:, np.newaxis], axis=-2)
    return float(np.take(bpms, best_period)[0])
