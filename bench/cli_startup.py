"""CPU cost of starting the ``soundalike`` command line, lazy against eager command loading.

    python -m bench.cli_startup [--repeats 7] [--clip PATH] [--baseline CHECKOUT]

Runs each case in a fresh interpreter and reads the child's CPU seconds (user + system, from
``resource.getrusage``). The baseline of each case is the same command after importing every
command module up front, as the group did before it loaded commands by name; ``--baseline``
adds the same command run from another checkout's code (a worktree of an earlier commit), for
before-and-after figures. ``features`` runs on a short clip and on the 30-s window of a demo
track. Variants alternate run by run so load from other processes hits them alike; prints the
median and the range.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIP = next((ROOT / "tests" / "data" / "clips").glob("*.ogg"))
LONG_TRACK = ROOT / "demo" / "library" / "Kevin_MacLeod_-_Vibe_Ace.ogg"

RUN = """
import sys
{preload}
from indexer.cli import main
main(sys.argv[1:], prog_name="soundalike")
"""
EAGER = "import " + ", ".join(
    f"indexer.cli.{name}" for name in ("browse", "indexing", "model", "serve", "similar", "walks")
)


def child_cpu_s(args: list[str], *, eager: bool, root: Path = ROOT) -> float:
    """CPU seconds of one ``soundalike ARGS`` in a new process running the code in ``root``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = RUN.format(preload=EAGER if eager else "")
    subprocess.run([sys.executable, "-c", code, *args], cwd=root, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--baseline", type=Path, help="another checkout to run the same commands")
    options = parser.parse_args()
    cases = {
        "--help": ["--help"],
        "features (one clip)": ["features", str(options.clip.resolve())],
        "features (30-s window)": ["features", str(LONG_TRACK)],
    }
    variants: dict[str, tuple[bool, Path]] = {
        "eager": (True, ROOT),
        "lazy (now)": (False, ROOT),
    }
    if options.baseline:
        variants["baseline"] = (False, options.baseline.resolve())
    times: dict[tuple[str, str], list[float]] = {(c, v): [] for c in cases for v in variants}
    for eager, root in variants.values():
        # Warm the file cache and numba's on-disk cache.
        child_cpu_s(cases["features (one clip)"], eager=eager, root=root)
    for repeat in range(options.repeats):
        for name, args in cases.items():
            order = list(variants) if repeat % 2 == 0 else list(variants)[::-1]
            for variant in order:
                eager, root = variants[variant]
                times[(name, variant)].append(child_cpu_s(args, eager=eager, root=root))
    print(f"CPU seconds per run, median (min-max) of {options.repeats}:")
    for name in cases:
        for variant in variants:
            values = times[(name, variant)]
            print(
                f"  {name:<24} {variant:<12} {statistics.median(values):5.2f} "
                f"({min(values):.2f}-{max(values):.2f})"
            )


if __name__ == "__main__":
    main()
