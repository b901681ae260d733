"""One file in, one record out: the part of bulk indexing that runs in worker processes.

Kept apart from :mod:`indexer.ingest.pipeline` and :mod:`indexer.library` so that a worker imports
only decoding, features and tags: not the database, FAISS, XGBoost or scikit-learn, which a
worker never uses and which would double its start-up time.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import threadpoolctl

from indexer.audio.decode import Decoded, decode_window
from indexer.audio.embedding import SoundDescription, describe, load_session
from indexer.audio.features import SR, extract_features
from indexer.audio.file_tags import read_tags
from indexer.errors import FileError, TooShortError
from indexer.files import file_lock

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
    sound: SoundDescription | None = None
    """The network's description of the same window; None when the window is shorter than one
    of its 3-s patches (the song is then only in the ``features`` space)."""
    audio_hash: str | None = None
    """`audio_hash` of the analysed window: tells a later tag write from an audio change."""


@dataclass(frozen=True)
class Refreshed:
    """A file whose bytes changed but whose analysed samples did not (a tag write, say).

    Carries what the row must learn (file state, tags, duration); its analysis still holds.
    """

    path: str
    content_hash: str
    size_bytes: int
    mtime_ns: int
    title: str
    artist: str | None
    album: str | None
    duration_s: float


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


def audio_hash(decoded: Decoded) -> str:
    """BLAKE2b of the analysed window's samples and rate.

    Rewriting a file's tags moves and resizes its tag block but leaves the audio frames, so
    the same decoder gives the same samples, bit for bit: an equal hash means the features and
    the embedding computed from this window still hold. A different decoder or resampler build
    may give other bits; the hash then differs and the file is simply analysed again.
    """
    digest = hashlib.blake2b(digest_size=32)
    digest.update(str(decoded.sr).encode())
    digest.update(np.ascontiguousarray(decoded.y, dtype="<f4").tobytes())
    return digest.hexdigest()


def analyse_file(
    path: Path, *, window_s: float, known_audio_hash: str | None = None
) -> SongRecord | Refreshed:
    """Everything the database keeps about one file; FileError when it is not usable audio.

    With ``known_audio_hash`` (the row's), a file whose decoded window still has that hash is
    not analysed again: a `Refreshed` carries its new file state and tags instead.
    """
    try:
        stat = path.stat()
        content_hash = file_hash(path)
    except OSError as exc:
        raise FileError(path, exc.strerror or str(exc)) from exc
    decoded = decode_window(path, sr=SR, window_s=window_s)
    window_hash = audio_hash(decoded)
    tags = read_tags(path)
    if known_audio_hash is not None and window_hash == known_audio_hash:
        return Refreshed(
            path=str(path),
            content_hash=content_hash,
            size_bytes=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            title=tags.title,
            artist=tags.artist,
            album=tags.album,
            duration_s=float(decoded.duration_s),
        )
    features = extract_features(y=decoded.y, sr=decoded.sr, path=path)
    sound = describe_sound(decoded.y, decoded.sr, path)
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
        sound=sound,
        audio_hash=window_hash,
    )


def describe_sound(y: np.ndarray, sr: int, path: Path | str) -> SoundDescription | None:
    """The network's description of the window already decoded for the features (one decode).

    None for a window shorter than one 3-s patch: such a clip still has its 57 features.
    """
    try:
        return describe(y=y, sr=sr, path=path)
    except TooShortError:
        return None


def analyse_for_report(
    path: Path, window_s: float, known_audio_hash: str | None = None
) -> SongRecord | Refreshed | Skipped:
    """Worker entry point: a record (or a refresh, see `analyse_file`), or why it is skipped."""
    try:
        return analyse_file(path, window_s=window_s, known_audio_hash=known_audio_hash)
    except FileError as exc:
        return Skipped(str(path), exc.reason)
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop a whole library
        return Skipped(str(path), f"unexpected {type(exc).__name__}: {exc}")


KERNEL_LOCK_TIMEOUT_S = 600.0


def kernel_lock_path() -> Path:
    """The lock that serializes compiling numba's kernels in one Python environment.

    numba writes its on-disk cache (beside librosa's modules) without locking: two processes
    compiling the same kernel at once, as fresh workers do on a new install, can leave an index
    that points into the other's data file, and every later process that loads it crashes with a
    segmentation fault. One lock per environment (``sys.prefix``) makes the first process compile
    and write, and the others wait, then load the finished cache.
    """
    env = hashlib.blake2b(sys.prefix.encode(), digest_size=8).hexdigest()
    return Path(tempfile.gettempdir()) / f"soundalike-kernels-{env}.lock"


def load_kernels() -> None:
    """Compile, or load from numba's cache, every kernel the extractor calls, on 1 s of noise.

    The first call of each numba kernel in a process costs far more than a file's analysis;
    paying it here keeps it out of the first file's time. Also loads the network's sessions.
    """
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    with file_lock(kernel_lock_path(), timeout_s=KERNEL_LOCK_TIMEOUT_S):
        extract_features(y=noise, sr=SR)
    load_session()


def warm_worker() -> None:
    """Prepare a worker process: kernels loaded once per worker, not once per file.

    Also limits BLAS to one thread: the workers already fill the cores, and two BLAS threads
    per worker only add contention.
    """
    threadpoolctl.threadpool_limits(limits=1)
    load_kernels()
