"""CPU cost of starting the ``soundalike`` command line, lazy against eager command loading.

    python -m bench.cli_startup [--repeats 7] [--clip PATH]

Runs each case in a fresh interpreter and reads the child's CPU seconds (user + system, from
``resource.getrusage``). The baseline of each case is the same command after importing every
command module up front, as the group did before it loaded commands by name. Cases alternate
run by run so load from other processes hits both alike; prints the median and the range.
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

RUN = """
import sys
{preload}
from indexer.cli import main
main(sys.argv[1:], prog_name="soundalike")
"""
EAGER = "import " + ", ".join(
    f"indexer.cli.{name}" for name in ("browse", "indexing", "model", "serve", "similar", "walks")
)


def child_cpu_s(args: list[str], *, eager: bool) -> float:
    """CPU seconds of one ``soundalike ARGS`` in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = RUN.format(preload=EAGER if eager else "")
    subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    options = parser.parse_args()
    cases = {"--help": ["--help"], "features (one clip)": ["features", str(options.clip)]}
    times: dict[tuple[str, bool], list[float]] = {(c, e): [] for c in cases for e in (False, True)}
    child_cpu_s(["--help"], eager=True)  # warm the file cache and numba's on-disk cache
    child_cpu_s(cases["features (one clip)"], eager=False)
    for repeat in range(options.repeats):
        for name, args in cases.items():
            order = (False, True) if repeat % 2 == 0 else (True, False)
            for eager in order:
                times[(name, eager)].append(child_cpu_s(args, eager=eager))
    print(f"CPU seconds per run, median (min-max) of {options.repeats}:")
    for name in cases:
        for eager in (True, False):
            values = times[(name, eager)]
            label = "eager (before)" if eager else "lazy (now)"
            print(
                f"  {name:<20} {label:<15} {statistics.median(values):5.2f} "
                f"({min(values):.2f}-{max(values):.2f})"
            )


if __name__ == "__main__":
    main()
