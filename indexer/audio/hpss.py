"""Harmonic/percussive separation as ``librosa.effects.hpss`` does it, with a faster median.

Most of ``librosa.effects.hpss``'s time is ``scipy.ndimage.median_filter`` (two 31-wide medians
over a 1025 x 1300 spectrogram), which sorts every window again. Here the median is taken one of
two faster ways, both exact: an odd-width median is one of the window's values, so any selection
gives scipy's number, not an approximation (``tests/indexer/audio/test_hpss.py`` checks bit
equality). By default bottleneck's ``move_median``, which keeps each window in two heaps as it
slides (about 10x scipy's speed: 0.06 CPU s per median of a 30-s clip). With numba installed
(the ``fast`` extra) and after :func:`load_median_kernel`, a numba kernel that keeps each window
sorted, many windows at once in SIMD lanes, does it in 0.01 s; importing numba and loading the
kernel costs about 0.6 CPU s, so bulk indexing loads it and ``soundalike features`` on a file or
two does not. The rest (soft masks, inverse STFTs) follows librosa's code path, so the time
signals match.
"""

from __future__ import annotations

from collections.abc import Callable

import bottleneck
import numpy as np

from indexer.audio.spectral import istft, magphase
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
        import scipy.ndimage  # only for such clips

        shape = [1, 1]
        shape[axis] = size
        return scipy.ndimage.median_filter(S, size=shape, mode="reflect")
    if _kernel is None:
        return _bottleneck_median(S, size=size, axis=axis)
    # The kernel slides along axis 0 and runs its lanes along contiguous axis 1. For an STFT
    # (Fortran order) the harmonic median's view needs no copy.
    x = np.ascontiguousarray(np.moveaxis(S, axis, 0))
    out = np.empty_like(x)
    _kernel(x, size, out)
    return np.moveaxis(out, 0, axis)


_kernel: Callable[[np.ndarray, int, np.ndarray], None] | None = None


def load_median_kernel() -> bool:
    """Import numba and compile, or load from its cache, the sliding-median kernel.

    From then on :func:`median_filter` uses it in this process (and in processes forked from
    it). Worth its ~0.6 CPU s when more than a few clips will be analysed. numba is optional
    (``pip install soundalike[fast]``): without it this returns False and bottleneck's median,
    the same numbers, stays in use.
    """
    global _kernel  # one switch per process, set once
    try:
        from indexer.audio.median_kernel import sliding_median  # numba, on demand
    except ModuleNotFoundError as err:
        if err.name != "numba":
            raise  # numba is there but broken: say so rather than run slower in silence
        return False

    # Spectrograms are float32; a float64 one compiles its own specialisation when first seen.
    probe = np.zeros((2, 1), dtype=np.float32)
    sliding_median(probe, 1, np.empty_like(probe))
    _kernel = sliding_median
    return True


def _bottleneck_median(S: np.ndarray, *, size: int, axis: int) -> np.ndarray:
    """The median of each ``size``-wide window along ``axis`` by ``bottleneck.move_median``.

    numpy's ``symmetric`` padding repeats the edge value, as scipy's ``reflect`` mode does;
    bottleneck's window ends at its index, so the centred medians start ``size - 1`` in.
    """
    half = size // 2
    pad = [(0, 0)] * S.ndim
    pad[axis] = (half, half)
    moving = bottleneck.move_median(np.pad(S, pad, mode="symmetric"), size, axis=axis)
    centred = [slice(None)] * S.ndim
    centred[axis] = slice(size - 1, None)
    return moving[tuple(centred)]


def hpss_signals(
    D: np.ndarray, *, n: int, n_fft: int = 2048, hop_length: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic and percussive time signals from a complex STFT, as ``effects.hpss(y)``.

    Parameters
    ----------
    D : np.ndarray [shape=(1 + n_fft // 2, t), dtype=complex64]
        ``spectral.stft(y, n_fft=n_fft, hop_length=hop_length, pad_mode="constant")`` of float32
        ``y``, the padding ``effects.hpss`` uses.
    n : int
        ``len(y)``, so the signals come back with the input's length.

    Returns
    -------
    y_harmonic, y_percussive : np.ndarray [shape=(n,)]
    """
    S, phase = magphase(D)
    # Same operations as librosa.decompose.hpss (margin 1, power 2, masks applied).
    harm = np.empty_like(S)
    harm[:] = median_filter(S, size=KERNEL_SIZE, axis=-1)
    perc = np.empty_like(S)
    perc[:] = median_filter(S, size=KERNEL_SIZE, axis=-2)
    mask_harm, mask_perc = _softmasks(harm, perc)
    y_harmonic, y_percussive = (
        istft((S * mask) * phase, n_fft=n_fft, hop_length=hop_length, length=n)
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
