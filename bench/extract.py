"""Feature extraction per clip: the straightforward extractor against ours, on one core.

    python -m bench.extract [--repeats 3] [--clips PATH ...]

Both extractors run in this process on the same decoded clips (the GTZAN clips in
``tests/data/gtzan`` and the 22050 Hz demo tracks in ``demo/library`` by default), after a
warm-up, alternating clip by clip so that load from other processes hits both alike. Prints
per-clip medians, their ratio and the largest relative difference between the two results, and
the cost of the first call (numba kernels), which the per-clip times leave out.
The process is pinned to one CPU and BLAS/numba are limited to one thread. Ours uses the compiled
median when numba is installed (the ``fast`` extra; librosa brings it in ``dev``), as indexing
does; ``--no-kernel`` times bottleneck's, as ``soundalike features`` and an install without
numba run it.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from bench.reference import reference_features  # noqa: E402
from indexer.audio.decode import decode_window  # noqa: E402
from indexer.audio.features import SR, extract_features  # noqa: E402
from indexer.audio.hpss import load_median_kernel  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIPS = sorted(
    p for p in (ROOT / "tests" / "data" / "gtzan").iterdir() if p.suffix in {".wav", ".mp3"}
) + sorted(p for p in (ROOT / "demo" / "library").glob("*.ogg") if not p.name.endswith(".hq.ogg"))


def main() -> None:
    """Time both extractors and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=Path, nargs="*", default=DEFAULT_CLIPS)
    parser.add_argument("--no-kernel", action="store_true", help="bottleneck's median, not numba's")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    clips = [(p.name, decode_window(p, sr=SR, window_s=30.0).y) for p in args.clips]
    # Warm-up: numba compilation (or loading from numba's cache) and FFT plans, for both. Ours
    # goes first, so its time includes importing numba, which librosa's kernels then reuse.
    t0 = time.perf_counter()
    if not args.no_kernel:
        load_median_kernel()
    extract_features(y=clips[0][1], sr=SR)
    t1 = time.perf_counter()
    reference_features(y=clips[0][1], sr=SR)
    print(
        f"first call of ours in this process (kernels compiled or loaded from numba's cache, "
        f"not counted below): {t1 - t0:.2f} s; then the reference's: "
        f"{time.perf_counter() - t1:.2f} s"
    )

    print(f"{'clip':<52} {'s':>5} {'baseline':>9} {'ours':>7} {'ratio':>6} {'max rel':>8}")
    base_all, ours_all = [], []
    for name, y in clips:
        base_s, ours_s = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            expected = reference_features(y=y, sr=SR)
            t1 = time.perf_counter()
            got = extract_features(y=y, sr=SR)
            t2 = time.perf_counter()
            base_s.append(t1 - t0)
            ours_s.append(t2 - t1)
        rel = np.abs(got - expected) / np.maximum(np.abs(expected), np.finfo(float).tiny)
        base, ours = statistics.median(base_s), statistics.median(ours_s)
        base_all.append(base)
        ours_all.append(ours)
        print(
            f"{name[:52]:<52} {y.size / SR:5.1f} {base:9.3f} {ours:7.3f} "
            f"{base / ours:6.2f} {rel.max():8.1e}"
        )
    print(
        f"median per clip: baseline {statistics.median(base_all):.3f} s, "
        f"ours {statistics.median(ours_all):.3f} s; "
        f"ratio of medians {statistics.median(base_all) / statistics.median(ours_all):.2f}x, "
        f"median of ratios "
        f"{statistics.median(b / o for b, o in zip(base_all, ours_all, strict=True)):.2f}x"
    )


if __name__ == "__main__":
    main()
