"""The game-soundtrack corpus analysed track by track, each track's result cached on disk.

`bench.real_music` (the 57 features) and `bench.sound_patches` (the networks' per-patch
outputs) analyse the same parts of every track: the middle ``WINDOW_S``, as the library does,
and for tracks of at least ``EXCERPT_MIN_S`` two disjoint excerpts, the middle of each half.
Each keeps one .npz per track, named by the file as it is now on disk and by a hash of the code
(and model files) that computed it, and fills in the missing ones on a process pool, so a second
run only reads. A track that cannot be analysed (unreadable, or too short: the networks need one
3-s patch) is reported with its reason and left out; the run goes on with the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from bench.game_music import Track
from indexer.audio.analyse import warm_worker
from indexer.audio.decode import decode_window
from indexer.audio.features import SR
from indexer.errors import IndexerError

WINDOW_S = 30.0
EXCERPT_MIN_S = 70.0
CACHE_FORMAT = "1"

Result = TypeVar("Result")


def code_version(*sources: bytes) -> str:
    """Hash of what decides a cached result: ``sources`` (code, model files) and the windows.

    A change to any of them names every file anew, which empties the cache.
    """
    digest = hashlib.sha256(CACHE_FORMAT.encode())
    for source in sources:
        digest.update(source)
    digest.update(f"{WINDOW_S} {EXCERPT_MIN_S}".encode())
    return digest.hexdigest()[:16]


def cache_path(cache_dir: Path, path: Path, version: str) -> Path:
    """Where the result for ``path`` (as it is now on disk) is kept."""
    stat = path.stat()  # follows the corpus's symlinks to the installed file
    key = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{version}"
    return cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def excerpt_bounds(n: int, *, sr: int) -> list[tuple[int, int]]:
    """Two disjoint ``WINDOW_S`` excerpts of ``n`` samples: the middle of each half."""
    half, length = n // 2, round(WINDOW_S * sr)
    if half < length:
        raise ValueError(f"{n / sr:.1f} s is too short for two {WINDOW_S:g}-s excerpts")
    return [
        (start + (half - length) // 2, start + (half - length) // 2 + length) for start in (0, half)
    ]


def excerpt_samples(path: Path, *, duration_s: float) -> list[np.ndarray]:
    """The samples (at ``SR``) of the two excerpts of a track; none under ``EXCERPT_MIN_S``."""
    if duration_s < EXCERPT_MIN_S:
        return []
    # A window longer than the track makes the decoder read it whole.
    whole = decode_window(path, sr=SR, window_s=duration_s + 60.0)
    return [whole.y[lo:hi] for lo, hi in excerpt_bounds(len(whole.y), sr=SR)]


def load_cached(
    tracks: list[Track],
    cache_dir: Path,
    *,
    version: str,
    analyse: Callable[[Path], dict[str, np.ndarray]],
    read: Callable[[Mapping[str, np.ndarray]], Result],
    workers: int,
    doing: str,
    shuffle: bool = False,
) -> tuple[list[Track], list[Result], int]:
    """The tracks that have a result, their results, and how many were analysed now.

    ``analyse`` runs in ``workers`` processes, so it is a module-level function (or a
    `functools.partial` of one); it returns the arrays to keep, which ``read`` turns back into a
    result. A track it raises an `IndexerError` for is printed with the reason and left out (it
    is tried again on the next run). ``shuffle`` analyses the missing tracks in a fixed random
    order, so that the tracks done so far are a sample of every soundtrack. ``doing`` words the
    progress line.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    targets = [cache_path(cache_dir, t.path, version) for t in tracks]
    todo = [
        (t.path, target) for t, target in zip(tracks, targets, strict=True) if not target.exists()
    ]
    if shuffle:
        todo = [todo[i] for i in np.random.default_rng(0).permutation(len(todo))]
    skipped = []
    if todo:
        with ProcessPoolExecutor(max_workers=workers, initializer=warm_worker) as pool:
            jobs = pool.map(_analyse_into, [analyse] * len(todo), *zip(*todo, strict=True))
            for done, reason in enumerate(jobs, 1):
                print(f"\r  {doing} {done}/{len(todo)}", end="", flush=True)
                if reason is not None:
                    skipped.append(reason)
        print()
    for reason in skipped:
        print(f"  skipped {reason}")
    kept, loaded = [], []
    for track, target in zip(tracks, targets, strict=True):
        if target.exists():
            kept.append(track)
            with np.load(target) as npz:
                loaded.append(read(npz))
    return kept, loaded, len(todo) - len(skipped)


def results_of(tracks: list[Track], results: list[Result], kept: list[Track]) -> list[Result]:
    """The results (one per track of ``tracks``) of the tracks in ``kept`` alone, in order: what
    two caches share when one of them left a track out."""
    wanted = {t.path for t in kept}
    return [r for t, r in zip(tracks, results, strict=True) if t.path in wanted]


def _analyse_into(
    analyse: Callable[[Path], dict[str, np.ndarray]], path: Path, target: Path
) -> str | None:
    """Analyse ``path`` and write its arrays to ``target`` whole or not at all; why not, if not."""
    try:
        arrays = analyse(path)
    except IndexerError as exc:
        return str(exc)  # a FileError's message starts with the path
    tmp = target.with_name(f".{target.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(target)
    return None
