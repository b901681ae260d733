"""Harmonic/percussive separation as ``librosa.effects.hpss`` does it, with a faster median.

Nearly all of ``librosa.effects.hpss``'s time is ``scipy.ndimage.median_filter`` (two
31-wide medians over a 1025 x 1300 spectrogram). bottleneck's ``move_median`` over a
symmetrically padded spectrogram computes the same windows with a running double heap instead
of a sort per window; an odd-width median is one of the window's values, so the result is the
same number, not an approximation (``tests/indexer/test_hpss.py`` checks bit equality). The
rest (soft masks, inverse STFTs) is librosa's own code path, so the time signals match.
"""

from __future__ import annotations

import bottleneck as bn
import librosa
import numpy as np
import scipy.ndimage

KERNEL_SIZE = 31
"""librosa's default HPSS median width, in frames (harmonic) and bins (percussive)."""


def median_filter(S: np.ndarray, *, size: int, axis: int) -> np.ndarray:
    """``scipy.ndimage.median_filter(S, size=..., mode="reflect")`` along one axis, faster.

    Parameters
    ----------
    S : np.ndarray [shape=(f, t)]
        Real, finite values.
    size : int
        Odd window width.
    axis : int
        The axis the window slides along.

    Returns
    -------
    np.ndarray [shape=(f, t), dtype=S.dtype]
    """
    if size % 2 != 1:
        raise ValueError(f"size must be odd, got {size}")
    half = size // 2
    if S.shape[axis] <= half:
        # scipy reflects repeatedly when the window is wider than twice the axis; too rare
        # (clips under a third of a second) to reproduce here.
        shape = [1] * S.ndim
        shape[axis] = size
        return scipy.ndimage.median_filter(S, size=shape, mode="reflect")
    pad = [(0, 0)] * S.ndim
    pad[axis] = (half, half)
    # numpy's "symmetric" (d c b a | a b c d) is scipy.ndimage's "reflect".
    # Slide along contiguous memory: faster, and the windows hold the same values.
    padded = np.ascontiguousarray(np.moveaxis(np.pad(S, pad, mode="symmetric"), axis, -1))
    moved = bn.move_median(padded, window=size, axis=-1)[..., size - 1 :]
    return np.moveaxis(moved, -1, axis).astype(S.dtype, copy=False)


def hpss_signals(
    D: np.ndarray, *, n: int, n_fft: int = 2048, hop_length: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic and percussive time signals from a complex STFT, as ``effects.hpss(y)``.

    Parameters
    ----------
    D : np.ndarray [shape=(1 + n_fft // 2, t), dtype=complex]
        ``librosa.stft(y, n_fft=n_fft, hop_length=hop_length)`` with its default
        ``pad_mode="constant"``, the padding ``effects.hpss`` uses.
    n : int
        ``len(y)``, so the signals come back with the input's length.

    Returns
    -------
    y_harmonic, y_percussive : np.ndarray [shape=(n,)]
    """
    S, phase = librosa.magphase(D)
    # Same operations as librosa.decompose.hpss (margin 1, power 2, masks applied).
    harm = np.empty_like(S)
    harm[:] = median_filter(S, size=KERNEL_SIZE, axis=-1)
    perc = np.empty_like(S)
    perc[:] = median_filter(S, size=KERNEL_SIZE, axis=-2)
    mask_harm, mask_perc = _softmasks(harm, perc)
    dtype = np.float32 if D.dtype == np.complex64 else np.float64
    return tuple(  # type: ignore[return-value]
        librosa.istft((S * mask) * phase, dtype=dtype, n_fft=n_fft, hop_length=hop_length, length=n)
        for mask in (mask_harm, mask_perc)
    )


def _softmasks(harm: np.ndarray, perc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both of hpss's ``util.softmask`` calls (power 2, zeros split) sharing their work.

    Each call computes ``Z = max(X, X_ref)`` and ``(X/Z)**2 / ((X/Z)**2 + (X_ref/Z)**2)``; the
    two calls only swap ``X`` and ``X_ref``, and max and + are commutative in IEEE arithmetic,
    so computing Z and the denominator once gives the same bits with half the passes.
    """
    Z = np.maximum(harm, perc)
    bad = Z < np.finfo(Z.dtype).tiny
    Z[bad] = 1
    mask_harm = (harm / Z) ** 2.0
    mask_perc = (perc / Z) ** 2.0
    total = mask_harm + mask_perc
    with np.errstate(invalid="ignore", divide="ignore"):
        # Only where ``bad`` (both medians zero) is this 0/0; those cells are split below.
        mask_harm /= total
        mask_perc /= total
    mask_harm[bad] = 0.5
    mask_perc[bad] = 0.5
    return mask_harm, mask_perc
