"""CPU seconds per clip of ``extract_features``: this checkout against another, alternating.

    python -m bench.extract_versions --baseline CHECKOUT [--runs 3] [--repeats 3] [--clips ...]

Each run is a fresh process on one CPU with one BLAS thread that imports the extractor from one
checkout's code (the baseline; this one with the compiled median as indexing loads it; this one
with bottleneck's median, as ``soundalike features`` and an install without numba run it), warms
up on the first clip, and reports the best of ``--repeats`` CPU times (``time.process_time``)
per clip. Runs alternate between the variants, so load from other processes hits them alike;
CPU time, unlike wall time, does not grow with other people's jobs waiting for the same core.
Prints the median over runs per clip.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIPS = [
    ROOT / "tests" / "data" / "gtzan" / "blues.00001.wav",
    ROOT / "tests" / "data" / "gtzan" / "classical.00002.wav",
    ROOT / "tests" / "data" / "gtzan" / "blues.00099.mp3",
    ROOT / "demo" / "library" / "admiralbob77_-_Choice_-_Drum-bass.ogg",
    ROOT / "demo" / "library" / "Kevin_MacLeod_-_Vibe_Ace.ogg",
]

CHILD = """
import os, sys, time, json
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"
sys.path.insert(0, os.getcwd())
from pathlib import Path
from indexer.audio.decode import decode_window
from indexer.audio.features import SR, extract_features
if sys.argv[2] == "kernel":
    try:
        from indexer.audio.hpss import load_median_kernel
    except ImportError:  # a version whose extractor always uses the compiled median
        pass
    else:
        load_median_kernel()
clips = [decode_window(Path(p), sr=SR, window_s=30.0).y for p in sys.argv[3:]]
extract_features(y=clips[0], sr=SR)
best = []
for y in clips:
    times = []
    for _ in range(int(sys.argv[1])):
        t0 = time.process_time()
        extract_features(y=y, sr=SR)
        times.append(time.process_time() - t0)
    best.append(min(times))
print(json.dumps(best))
"""


def main() -> None:
    """Run the variants in turn and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=Path, nargs="*", default=DEFAULT_CLIPS)
    options = parser.parse_args()
    variants = {
        "baseline": (options.baseline.resolve(), "kernel"),
        "now, compiled median": (ROOT, "kernel"),
        "now, bottleneck median": (ROOT, "bottleneck"),
    }
    cpu = min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    clips = [str(p.resolve()) for p in options.clips]
    results: dict[str, list[list[float]]] = {name: [] for name in variants}
    for run in range(options.runs):
        order = list(variants) if run % 2 == 0 else list(variants)[::-1]
        for name in order:
            root, mode = variants[name]
            command = [sys.executable, "-c", CHILD, str(options.repeats), mode, *clips]
            if cpu is not None:
                command = ["taskset", "-c", str(cpu), *command]
            out = subprocess.run(command, cwd=root, capture_output=True, text=True, check=True)
            results[name].append(json.loads(out.stdout.splitlines()[-1]))
    print(f"CPU s per clip, median of {options.runs} runs (best of {options.repeats} each):")
    for name, runs in results.items():
        per_clip = [statistics.median(run[i] for run in runs) for i in range(len(clips))]
        print(
            f"  {name:<22} "
            + " ".join(f"{x:.3f}" for x in per_clip)
            + f"   median {statistics.median(per_clip):.3f}"
        )


if __name__ == "__main__":
    main()
