"""Bulk indexing throughput: tracks/s with 1 and 2 worker processes on a generated library.

    python -m bench.index [--tracks 24] [--library DIR] [--workers 1 2] [--repeats 1]

Generates (once, then reuses) ``--tracks`` synthetic songs of 10 s to 8 min, log-uniformly
spread, 44.1 kHz stereo, as wav, flac, mp3 and ogg in turn, tagged with title, artist and
album. Each song has a tempo, a chord progression and percussion, so every feature has
something to describe. Then it indexes the library into a fresh SQLite data dir once per
worker count (alternating when repeated, so other load on the machine hits both alike) and
prints wall time, tracks/s and the speed-up over the smallest worker count. The genre model is
trained before timing; everything else (scan, process start, warm-up, decoding, features, tags,
database writes, index sync) is timed.
"""

from __future__ import annotations

import argparse
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


def run(library_dir: Path, model_dir: Path, workers: int) -> tuple[float, int]:
    """Index the whole library into a fresh data dir; wall seconds and tracks analysed."""
    with tempfile.TemporaryDirectory(prefix="soundalike-bench-") as tmp:
        data_dir = Path(tmp)
        shutil.copytree(model_dir, data_dir / "model")
        settings = load_settings(environ={}, overrides={"data_dir": data_dir})
        library = Library(settings)
        try:
            library.prepare()
            started = time.perf_counter()
            report = index_paths(library, scan_library(library_dir), workers=workers)
            elapsed = time.perf_counter() - started
        finally:
            library.close()
    if report.skipped:
        raise SystemExit(f"skipped: {report.skipped}")
    return elapsed, report.added


def main() -> None:
    """Generate the library if needed, index it per worker count, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=24)
    parser.add_argument("--library", type=Path, default=Path(tempfile.gettempdir()) / "sl-lib")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    paths = generate(args.library, args.tracks)
    seconds = sum(sf.info(p).duration for p in paths)
    print(
        f"library: {len(paths)} tracks, {seconds / 60:.0f} min of audio, "
        f"{sum(p.stat().st_size for p in paths) / 1e6:.0f} MB in {args.library} "
        f"(ready in {time.perf_counter() - started:.0f} s)"
    )
    with tempfile.TemporaryDirectory(prefix="soundalike-model-") as tmp:
        # Fit the scaler and train the genre model once, outside the timed runs.
        model_library = Library(load_settings(environ={}, overrides={"data_dir": Path(tmp)}))
        model_library.prepare()
        model_library.close()
        times: dict[int, list[float]] = {w: [] for w in args.workers}
        for _ in range(args.repeats):
            for workers in args.workers:
                elapsed, added = run(args.library, Path(tmp) / "model", workers)
                assert added == len(paths)
                times[workers].append(elapsed)
                print(f"  {workers} worker(s): {elapsed:.1f} s, {added / elapsed:.2f} tracks/s")
    base = statistics.median(times[args.workers[0]])
    for workers in args.workers:
        t = statistics.median(times[workers])
        print(
            f"{workers} worker(s): median {t:.1f} s, {len(paths) / t:.2f} tracks/s, "
            f"{base / t:.2f}x of {args.workers[0]} worker(s)"
        )


if __name__ == "__main__":
    main()
