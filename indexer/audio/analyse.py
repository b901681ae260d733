"""One file in, one record out: the part of bulk indexing that runs in worker processes.

Kept apart from :mod:`indexer.ingest.pipeline` and :mod:`indexer.library` so that a worker imports
only decoding, features and tags: not the database, FAISS, XGBoost or scikit-learn, which a
worker never uses and which would double its start-up time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import threadpoolctl

from indexer.audio.features import SR, extract_features, extract_file_features
from indexer.audio.file_tags import read_tags
from indexer.errors import FileError

HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class SongRecord:
    """Everything needed to write one analysed file into the database."""

    path: str
    content_hash: str
    size_bytes: int
    mtime_ns: int
    title: str
    artist: str | None
    album: str | None
    duration_s: float
    features: np.ndarray


@dataclass(frozen=True)
class Skipped:
    """A file that could not be indexed, and why."""

    path: str
    reason: str


def file_hash(path: Path) -> str:
    """BLAKE2b of the file's bytes: recognizes a moved file without decoding it again."""
    digest = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def analyse_file(path: Path, *, window_s: float) -> SongRecord:
    """Everything the database keeps about one file; FileError when it is not usable audio."""
    try:
        stat = path.stat()
        content_hash = file_hash(path)
    except OSError as exc:
        raise FileError(path, exc.strerror or str(exc)) from exc
    features, decoded = extract_file_features(path, window_s=window_s)
    tags = read_tags(path)
    return SongRecord(
        path=str(path),
        content_hash=content_hash,
        size_bytes=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        title=tags.title,
        artist=tags.artist,
        album=tags.album,
        duration_s=float(decoded.duration_s),
        features=features,
    )


def analyse_for_report(path: Path, window_s: float) -> SongRecord | Skipped:
    """Worker entry point: a record, or the reason the file is skipped."""
    try:
        return analyse_file(path, window_s=window_s)
    except FileError as exc:
        return Skipped(str(path), exc.reason)
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop a whole library
        return Skipped(str(path), f"unexpected {type(exc).__name__}: {exc}")


def load_kernels() -> None:
    """Compile, or load from numba's cache, every kernel the extractor calls, on 1 s of noise.

    The first call of each numba kernel in a process costs far more than a file's analysis;
    paying it here keeps it out of the first file's time.
    """
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    extract_features(y=noise, sr=SR)


def warm_worker() -> None:
    """Prepare a worker process: kernels loaded once per worker, not once per file.

    Also limits BLAS to one thread: the workers already fill the cores, and two BLAS threads
    per worker only add contention.
    """
    threadpoolctl.threadpool_limits(limits=1)
    load_kernels()
