"""CPU cost of the musicnn embedding per 30-s window on one core, beside the 57 features.

    python -m bench.embedding [--repeats 5] [--clips PATH ...]

Decodes the middle 30 s of each clip at the decoder's analysis rate (22050 Hz; by default the
demo tracks of at least 30 s, so every window is 10 patches), then measures the CPU seconds
(``time.process_time``, all threads of the process) of each stage on each window: the front end
(resampling to 16 kHz and the log-mel patches), each network on those patches (onnxruntime, one
thread), and today's 57 GTZAN features as the baseline. Stages alternate window by window, in
a rotating order, so that load from other processes hits them alike. Prints the median and the
spread over all windows and repeats, and the first call's cost (loading a model), which the
medians leave out. The process is pinned to one CPU and BLAS/numba are limited to one thread.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from indexer.audio.decode import decode_window  # noqa: E402
from indexer.audio.embedding import MODELS, log_mel_patches, run_model  # noqa: E402
from indexer.audio.features import SR, extract_features  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WINDOW_S = 30.0
DEFAULT_CLIPS = sorted(
    p
    for p in (ROOT / "demo" / "library").glob("*.ogg")
    if not p.name.endswith(".hq.ogg") and sf.info(p).duration >= WINDOW_S
)


def main() -> None:
    """Time every stage on every window and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clips", type=Path, nargs="*", default=DEFAULT_CLIPS)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    windows = [decode_window(p, sr=SR, window_s=WINDOW_S).y for p in args.clips]
    patches = [log_mel_patches(y=y, sr=SR) for y in windows]
    stages: dict[str, Callable[[int], object]] = {
        "front end": lambda i: log_mel_patches(y=windows[i], sr=SR),
        **{model: _network(model, patches) for model in MODELS},
        "57 features (baseline)": lambda i: extract_features(y=windows[i], sr=SR),
    }
    for name, stage in stages.items():
        t0 = time.process_time()
        stage(0)
        print(f"first call of {name} (not counted below): {time.process_time() - t0:.2f} CPU s")

    cpu_s: dict[str, list[float]] = {name: [] for name in stages}
    names = list(stages)
    for repeat in range(args.repeats):
        for i in range(len(windows)):
            shift = (repeat * len(windows) + i) % len(names)
            for name in names[shift:] + names[:shift]:
                t0 = time.process_time()
                stages[name](i)
                cpu_s[name].append(time.process_time() - t0)

    n_patches = sorted({len(p) for p in patches})
    print(
        f"\n{len(windows)} windows of {WINDOW_S:.0f} s ({'/'.join(map(str, n_patches))} patches "
        f"each) x {args.repeats} repeats, one CPU"
    )
    print(f"{'stage':<24} {'median CPU s':>12} {'p10':>7} {'p90':>7}")
    for name, times in cpu_s.items():
        p10, p90 = np.percentile(times, [10, 90])
        print(f"{name:<24} {statistics.median(times):>12.3f} {p10:>7.3f} {p90:>7.3f}")
    both = [
        front + msd + mtt
        for front, msd, mtt in zip(*(cpu_s[n] for n in ("front end", *MODELS)), strict=True)
    ]
    print(f"{'front end + both nets':<24} {statistics.median(both):>12.3f}")


def _network(model: str, patches: list[np.ndarray]) -> Callable[[int], object]:
    return lambda i: run_model(patches[i], model=model)


if __name__ == "__main__":
    main()
