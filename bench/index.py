"""Bulk indexing throughput: tracks/s with 1 and 2 worker processes on a generated library.

    python -m bench.index [--tracks 24] [--library DIR] [--workers 1 2] [--repeats 1]
                          [--real DIR] [--no-generated]

Generates (once, then reuses) ``--tracks`` synthetic songs of 10 s to 8 min, log-uniformly
spread, 44.1 kHz stereo, as wav, flac, mp3 and ogg in turn, tagged with title, artist and
album. Each song has a tempo, a chord progression and percussion, so every feature has
something to describe. Then it indexes the library into a fresh SQLite data dir once per
worker count (alternating when repeated, so other load on the machine hits both alike) and
prints wall time, tracks/s, CPU seconds per track and the speed-up over the smallest worker
count. The genre model is trained before timing; everything else (scan, process start, warm-up,
decoding, features, tags, database writes, index sync) is timed.

Generated files decode quickly and are all alike. ``--real DIR`` also indexes the audio files
under DIR, as they are: the game-soundtrack corpus of ``python -m bench.game_music`` is 100
Ogg Vorbis tracks of 21 s to 9.5 min, stereo, all but one at 44.1 kHz. The two libraries take
turns, run by run, so load from other work on the machine falls on both alike;
``--no-generated`` leaves the generated one out.

CPU time is this process's plus that of its children once they are reaped, which covers forked
workers (Linux before Python 3.12). Workers forked by a fork server (Python 3.12 and later) are
not this process's children, so CPU time is reported only where it is complete.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import mutagen
import numpy as np
import soundfile as sf
from mutagen.easyid3 import EasyID3
from mutagen.id3 import TALB, TIT2, TPE1
from scipy.signal import oaconvolve

from indexer.ingest.pipeline import index_paths
from indexer.ingest.scan import scan_library
from indexer.ingest.workers import worker_start_method
from indexer.library import Library
from indexer.settings import load_settings

SR = 44100
FORMATS = ("wav", "flac", "mp3", "ogg")
MIN_S, MAX_S = 10.0, 480.0
# Frames per soundfile write (libsndfile's Vorbis encoder overflows on one long write).
BLOCK = 1 << 16


def song(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A stereo song [shape=(n, 2)]: chords on a beat grid, kick and hi-hat noise."""
    n = round(seconds * SR)
    bpm = rng.uniform(70, 170)
    beat = round(SR * 60 / bpm)
    root_hz = 110 * 2 ** (rng.integers(0, 12) / 12)
    chords = [root_hz * 2 ** (s / 12) for s in rng.choice([0, 3, 5, 7, 8, 10], 4)]
    t = np.arange(n) / SR
    chord = np.array(chords)[(np.arange(n) // (beat * 4)) % 4]
    phase = 2 * np.pi * np.cumsum(chord) / SR
    tone = sum(np.sin(k * phase) / k for k in (1, 1.5, 2, 3))
    y = 0.15 * tone * (0.6 + 0.4 * np.cos(2 * np.pi * t * bpm / 60) ** 2)
    decay = np.exp(-np.arange(beat) / (0.05 * SR))
    hits = np.zeros(n)
    hits[::beat] = 1.0
    kick = oaconvolve(hits, decay * np.sin(2 * np.pi * 60 * np.arange(beat) / SR))[:n]
    hat = oaconvolve(np.roll(hits, beat // 2), decay[: beat // 4])[:n] * rng.normal(0, 1, n)
    y = y + 0.5 * kick + 0.05 * hat
    stereo = np.stack([y, np.roll(y, 40)], axis=1)
    return (0.8 * stereo / np.abs(stereo).max()).astype(np.float32)


def tag(path: Path, *, title: str, artist: str, album: str) -> None:
    """Write title, artist and album in the file's native tag format."""
    if path.suffix == ".mp3":
        tags = EasyID3()
        tags.update({"title": title, "artist": artist, "album": album})
        tags.save(path)
    elif path.suffix == ".wav":
        audio = mutagen.File(path)
        audio.add_tags()
        audio.tags.add(TIT2(encoding=3, text=title))
        audio.tags.add(TPE1(encoding=3, text=artist))
        audio.tags.add(TALB(encoding=3, text=album))
        audio.save()
    else:
        audio = mutagen.File(path)
        audio.update({"title": title, "artist": artist, "album": album})
        audio.save()


def generate(root: Path, tracks: int, *, seed: int = 0) -> list[Path]:
    """The library under ``root``, generated once; existing files are kept."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(MIN_S), np.log(MAX_S), tracks))
    lengths[:2] = MIN_S, MAX_S  # both ends of the range, always
    paths = []
    for i, seconds in enumerate(lengths):
        fmt = FORMATS[i % len(FORMATS)]
        path = root / f"artist{i % 5}" / f"album{i % 3}" / f"track{i:03d}.{fmt}"
        paths.append(path)
        track_rng = np.random.default_rng([seed, i])
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        y = song(float(seconds), track_rng)
        with sf.SoundFile(path, "w", samplerate=SR, channels=2, format=fmt.upper()) as f:
            for start in range(0, len(y), BLOCK):
                f.write(y[start : start + BLOCK])
        tag(path, title=f"Track {i}", artist=f"Artist {i % 5}", album=f"Album {i % 3}")
    return paths


def cpu_seconds() -> float:
    """User and system CPU time of this process and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu_is_complete(workers: int) -> bool:
    """Whether `cpu_seconds` sees the workers' time: in process, or forked by this process."""
    return workers <= 1 or worker_start_method() == "fork"


def run(library_dir: Path, model_dir: Path, workers: int) -> tuple[float, float, int]:
    """Index the whole library into a fresh data dir; wall seconds, CPU seconds, tracks added."""
    with tempfile.TemporaryDirectory(prefix="soundalike-bench-") as tmp:
        data_dir = Path(tmp)
        shutil.copytree(model_dir, data_dir / "model")
        settings = load_settings(environ={}, overrides={"data_dir": data_dir})
        library = Library(settings)
        try:
            library.prepare()
            started, cpu_started = time.perf_counter(), cpu_seconds()
            report = index_paths(library, scan_library(library_dir), workers=workers)
            elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
        finally:
            library.close()
    if report.skipped:
        raise SystemExit(f"skipped: {report.skipped}")
    return elapsed, cpu, report.added


def describe(name: str, root: Path, paths: list[Path]) -> None:
    """One line: how many tracks, how much audio, how many bytes, where."""
    seconds = sum(sf.info(p).duration for p in paths)
    print(
        f"{name}: {len(paths)} tracks, {seconds / 60:.0f} min of audio, "
        f"{sum(p.stat().st_size for p in paths) / 1e6:.0f} MB in {root}"
    )


def main() -> None:
    """Generate the library if needed, index each library per worker count, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=24)
    parser.add_argument("--library", type=Path, default=Path(tempfile.gettempdir()) / "sl-lib")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--real", type=Path, help="also index the audio files under this folder")
    parser.add_argument("--no-generated", action="store_true", help="only the --real library")
    args = parser.parse_args()
    if args.no_generated and args.real is None:
        parser.error("--no-generated needs --real")

    libraries: dict[str, tuple[Path, int]] = {}
    if not args.no_generated:
        started = time.perf_counter()
        paths = generate(args.library, args.tracks)
        describe("generated", args.library, paths)
        print(f"  (ready in {time.perf_counter() - started:.0f} s)")
        libraries["generated"] = (args.library, len(paths))
    if args.real is not None:
        paths = scan_library(args.real)
        if not paths:
            raise SystemExit(f"{args.real}: no audio files")
        describe("real", args.real, paths)
        libraries["real"] = (args.real, len(paths))

    runs = [(name, workers) for workers in args.workers for name in libraries]
    times: dict[tuple[str, int], list[float]] = {run_: [] for run_ in runs}
    cpus: dict[tuple[str, int], list[float]] = {run_: [] for run_ in runs}
    with tempfile.TemporaryDirectory(prefix="soundalike-model-") as tmp:
        # Fit the scaler and train the genre model once, outside the timed runs.
        model_library = Library(load_settings(environ={}, overrides={"data_dir": Path(tmp)}))
        model_library.prepare()
        model_library.close()
        for _ in range(args.repeats):
            for name, workers in runs:
                root, n = libraries[name]
                elapsed, cpu, added = run(root, Path(tmp) / "model", workers)
                assert added == n
                times[name, workers].append(elapsed)
                cpus[name, workers].append(cpu)
                per_track = (
                    f", {cpu / added:.3f} CPU s per track" if cpu_is_complete(workers) else ""
                )
                print(
                    f"  {name}, {workers} worker(s): {elapsed:.1f} s, "
                    f"{added / elapsed:.2f} tracks/s{per_track}"
                )
    for name, (_, n) in libraries.items():
        base = statistics.median(times[name, args.workers[0]])
        for workers in args.workers:
            t = statistics.median(times[name, workers])
            cpu = (
                f"{statistics.median(cpus[name, workers]) / n:.3f} CPU s per track"
                if cpu_is_complete(workers)
                else "CPU not measured (fork-server workers)"
            )
            print(
                f"{name}, {workers} worker(s): median {t:.1f} s, {n / t:.2f} tracks/s, {cpu}, "
                f"{base / t:.2f}x of {args.workers[0]} worker(s)"
            )


if __name__ == "__main__":
    main()
