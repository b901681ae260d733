"""Harmonic/percussive separation as ``librosa.effects.hpss`` does it, with a faster median.

Most of ``librosa.effects.hpss``'s time is ``scipy.ndimage.median_filter`` (two 31-wide medians
over a 1025 x 1300 spectrogram), which sorts every window again. Here each window is kept
sorted as it slides: one value leaves, one arrives, and the new sorted window follows from the
old one by compares and min/max alone, with no branches, so one numba loop advances hundreds of
windows at once in SIMD lanes (every frequency bin for the harmonic median, every frame for the
percussive one). An odd-width median is one of the window's values and min/max only move
values, so the result is the same number as scipy's, not an approximation
(``tests/indexer/test_hpss.py`` checks bit equality). The rest (soft masks, inverse STFTs) is
librosa's own code path, so the time signals match.
"""

from __future__ import annotations

import librosa
import numba
import numpy as np
import scipy.ndimage

from indexer.errors import ParameterError

KERNEL_SIZE = 31
"""librosa's default HPSS median width, in frames (harmonic) and bins (percussive)."""


def median_filter(S: np.ndarray, *, size: int, axis: int) -> np.ndarray:
    """``scipy.ndimage.median_filter(S, size=..., mode="reflect")`` along one axis, faster.

    Parameters
    ----------
    S : np.ndarray [shape=(f, t)]
        Real, finite values (a NaN would break the sorted windows).
    size : int
        Odd window width.
    axis : int
        The axis the window slides along.

    Returns
    -------
    np.ndarray [shape=(f, t), dtype=S.dtype]
    """
    if size % 2 != 1:
        raise ParameterError(f"size must be odd, got {size}")
    if S.ndim != 2:
        raise ParameterError(f"expected a 2-d spectrogram, got shape {S.shape}")
    if S.shape[axis] <= size // 2:
        # scipy reflects repeatedly when the window is wider than twice the axis; too rare
        # (clips under a third of a second) to reproduce here.
        shape = [1, 1]
        shape[axis] = size
        return scipy.ndimage.median_filter(S, size=shape, mode="reflect")
    # The kernel slides along axis 0 and runs its lanes along contiguous axis 1. For an STFT
    # (Fortran order) the harmonic median's view needs no copy.
    x = np.ascontiguousarray(np.moveaxis(S, axis, 0))
    out = np.empty_like(x)
    _sliding_median(x, size, out)
    return np.moveaxis(out, 0, axis)


@numba.njit(cache=True, nogil=True)
def _reflect(i: int, n: int) -> int:
    """Index ``i`` in ``[-n, 2n)`` mapped into ``[0, n)`` as scipy's ``mode="reflect"``."""
    if i < 0:
        return -i - 1
    if i >= n:
        return 2 * n - 1 - i
    return i


@numba.njit(cache=True, nogil=True)
def _sliding_median(x: np.ndarray, size: int, out: np.ndarray) -> None:
    """Median of each ``size``-long window down axis 0 of ``x`` [shape=(n, lanes)], into ``out``.

    ``w[:, c]`` is lane ``c``'s window, sorted. Sliding removes ``old`` and inserts ``new``:
    without ``old``, position k holds ``w[k]`` below ``old``'s first copy and ``w[k + 1]`` from
    there on (``u[k]``); inserting ``new`` into sorted ``u`` puts ``max(u[k-1], min(new, u[k]))``
    at k. Both are selections, so no lane ever branches and the inner loops vectorize.
    """
    half = size // 2
    n, lanes = x.shape
    w = np.empty((size, lanes), x.dtype)
    r = np.empty((size, lanes), x.dtype)
    for c in range(lanes):
        # The first window, by insertion sort: once per lane, so its branches do not matter.
        for k in range(size):
            v = x[_reflect(k - half, n), c]
            i = k
            while i > 0 and w[i - 1, c] > v:
                w[i, c] = w[i - 1, c]
                i -= 1
            w[i, c] = v
    out[0, :] = w[half, :]
    for j in range(1, n):
        old = x[_reflect(j - 1 - half, n)]
        new = x[_reflect(j + half, n)]
        for c in range(lanes):
            u = w[0, c] if w[0, c] < old[c] else w[1, c]
            r[0, c] = min(new[c], u)
        for k in range(1, size - 1):
            for c in range(lanes):
                wk = w[k, c]
                u_below = w[k - 1, c] if w[k - 1, c] < old[c] else wk
                u = wk if wk < old[c] else w[k + 1, c]
                r[k, c] = max(u_below, min(new[c], u))
        for c in range(lanes):
            wk = w[size - 2, c]
            u_below = wk if wk < old[c] else w[size - 1, c]
            r[size - 1, c] = max(u_below, new[c])
        w, r = r, w
        out[j, :] = w[half, :]


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
    y_harmonic, y_percussive = (
        librosa.istft((S * mask) * phase, dtype=dtype, n_fft=n_fft, hop_length=hop_length, length=n)
        for mask in (mask_harm, mask_perc)
    )
    return y_harmonic, y_percussive


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
