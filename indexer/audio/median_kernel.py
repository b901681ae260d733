"""The compiled sliding median behind :func:`indexer.audio.hpss.median_filter`, in numba.

Each window is kept sorted as it slides: one value leaves, one arrives, and the new sorted window
follows from the old one by compares and min/max alone, with no branches, so one loop advances
hundreds of windows at once in SIMD lanes (every frequency bin for the harmonic median, every
frame for the percussive one). An odd-width median is one of the window's values and min/max only
move values, so the result is the same number as scipy's.

A module of its own because numba is optional (the ``fast`` extra: about 200 MB with llvmlite)
and because importing it and loading the kernel from numba's cache costs about 0.6 CPU s: worth
it for a library, where it saves about 0.09 CPU s per 30-s clip over bottleneck's median, not
for one file.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def reflect(i: int, n: int) -> int:
    """Index ``i`` in ``[-n, 2n)`` mapped into ``[0, n)`` as scipy's ``mode="reflect"``."""
    if i < 0:
        return -i - 1
    if i >= n:
        return 2 * n - 1 - i
    return i


@numba.njit(cache=True, nogil=True)
def sliding_median(x: np.ndarray, size: int, out: np.ndarray) -> None:
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
            v = x[reflect(k - half, n), c]
            i = k
            while i > 0 and w[i - 1, c] > v:
                w[i, c] = w[i - 1, c]
                i -= 1
            w[i, c] = v
    out[0, :] = w[half, :]
    for j in range(1, n):
        old = x[reflect(j - 1 - half, n)]
        new = x[reflect(j + half, n)]
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
