"""CPU cost of the musicnn embedding per 30-s window on one core, beside the 57 features.

    python -m bench.embedding [--repeats 5] [--clips PATH ...] [--patches 10 4 3]
                              [--variants] [--models DIR ...]

Decodes the middle 30 s of each clip at the decoder's analysis rate (22050 Hz; by default the
demo tracks of at least 30 s, so every window is 10 patches), then measures the CPU seconds
(``time.process_time``, all threads of the process) of each stage on each window: the front end
(resampling to 16 kHz and the log-mel patches), each network on those patches (onnxruntime, one
thread), and today's 57 GTZAN features as the baseline. Stages alternate window by window, in
a rotating order, so that load from other processes hits them alike. Prints the median and the
spread over all windows and repeats, and the first call's cost (loading a model), which the
medians leave out. The process is pinned to one CPU and BLAS/numba are limited to one thread.

``--patches`` also times each network on that many of the window's patches, spread evenly over
it (what `indexer.audio.embedding` runs). ``--variants`` adds sessions with other onnxruntime
options (basic graph optimisation only, denormals flushed to zero, no spinning), on the 10
patches. ``--models DIR ...`` adds both networks from the ``<model>.onnx`` files in each DIR (an
int8 copy, or the files before a change: ``git show REV:indexer/audio/musicnn/MSD_musicnn.onnx``),
on the 10 patches and on each ``--patches`` count, so that they compare with the library's files
in the same run.
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
import onnxruntime  # noqa: E402
import soundfile as sf  # noqa: E402

from bench.sound_patches import spread  # noqa: E402
from indexer.audio.decode import decode_window  # noqa: E402
from indexer.audio.embedding import MODEL_DIR, MODELS, log_mel_patches, run_model  # noqa: E402
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
    parser.add_argument("--patches", type=int, nargs="*", default=[])
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--models", type=Path, nargs="*", default=[])
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
    sessions = _sessions(variants=args.variants, folders=args.models)
    for label, session in sessions.items():
        stages[label] = _run(session, patches)
    for k in args.patches:
        few = [p[spread(len(p), k)] for p in patches]
        stages.update({f"{model} {k} patches": _network(model, few) for model in MODELS})
        for folder in args.models:
            stages.update(
                {
                    f"{model} {k} patches ({folder.name})": _run(
                        sessions[f"{model} ({folder.name})"], few
                    )
                    for model in MODELS
                }
            )
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
    width = max(map(len, cpu_s)) + 2
    print(f"{'stage':<{width}} {'median CPU s':>12} {'p10':>7} {'p90':>7}")
    for name, times in cpu_s.items():
        p10, p90 = np.percentile(times, [10, 90])
        print(f"{name:<{width}} {statistics.median(times):>12.3f} {p10:>7.3f} {p90:>7.3f}")
    suffixes = [""] + [f" {k} patches" for k in args.patches]
    for suffix in suffixes:
        for where in ["", *(f" ({folder.name})" for folder in args.models)]:
            nets = [f"{model}{suffix}{where}" for model in MODELS]
            both = [sum(t) for t in zip(cpu_s["front end"], *(cpu_s[n] for n in nets), strict=True)]
            label = f"front end + both nets{suffix}{where}"
            print(f"{label:<{width}} {statistics.median(both):>12.3f}")


def _network(model: str, patches: list[np.ndarray]) -> Callable[[int], object]:
    return lambda i: run_model(patches[i], model=model)


def _run(
    session: onnxruntime.InferenceSession, patches: list[np.ndarray]
) -> Callable[[int], object]:
    return lambda i: session.run(["penultimate", "tags"], {"patches": patches[i]})


def _sessions(*, variants: bool, folders: list[Path]) -> dict[str, onnxruntime.InferenceSession]:
    """Sessions with other options (MSD_musicnn) or model files (both) than the library's."""

    def session(path: Path, **entries: str) -> onnxruntime.InferenceSession:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        if entries.pop("basic", None):
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        for key, value in entries.items():
            options.add_session_config_entry(key.replace("_", ".", 1), value)
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    msd = MODEL_DIR / "MSD_musicnn.onnx"
    found: dict[str, onnxruntime.InferenceSession] = {}
    if variants:
        found["MSD, basic graph optimisation"] = session(msd, basic="1")
        found["MSD, denormals as zero"] = session(msd, session_set_denormal_as_zero="1")
        found["MSD, no spinning"] = session(msd, **{"session_intra_op.allow_spinning": "0"})
    for folder in folders:
        for model in MODELS:
            found[f"{model} ({folder.name})"] = session(folder / f"{model}.onnx")
    return found


if __name__ == "__main__":
    main()
