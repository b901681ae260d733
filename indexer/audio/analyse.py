"""One file in, one record out: the part of bulk indexing that runs in worker processes.

Kept apart from :mod:`indexer.ingest.pipeline` and :mod:`indexer.library` so that a worker imports
only decoding, features and tags: not the database, FAISS, XGBoost or scikit-learn, which a
worker never uses and which would double its start-up time.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import threadpoolctl

from indexer.audio.decode import Decoded, decode_window
from indexer.audio.embedding import EMBEDDING_VERSION, SoundDescription, describe, load_session
from indexer.audio.features import SR, extract_features
from indexer.audio.file_tags import read_tags
from indexer.audio.hpss import load_median_kernel
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
    sound_version: str = EMBEDDING_VERSION
    """The network recipe that described the window, or found it too short: stored with a NULL
    embedding, it keeps a too-short clip from being tried again until the recipe changes."""
    audio_hash: str | None = None
    """`audio_hash` of the analysed window: tells a later tag write from an audio change."""


@dataclass(frozen=True)
class Refreshed:
    """A file whose bytes changed but whose analysed samples did not (a tag write, say).

    Carries what the row must learn (file state, tags, duration); its analysis still holds.
    ``audio_hash`` is the hash the row had and the file still has: the row is refreshed only
    if it still holds that hash (another run may have analysed the file again meanwhile).
    """

    path: str
    content_hash: str
    size_bytes: int
    mtime_ns: int
    title: str
    artist: str | None
    album: str | None
    duration_s: float
    audio_hash: str


@dataclass(frozen=True)
class RecheckJob:
    """A changed file whose row knows the audio hash of its analysed window.

    The worker decodes and hashes the window first: the same hash means only the bytes around
    the audio changed (a tag write), and the row is refreshed instead of analysed again. The
    hash travels with the file, so a run over a retagged library pickles one short string per
    task, not the whole library's hashes.
    """

    path: str
    known_audio_hash: str

    def __fspath__(self) -> str:
        return self.path


@dataclass(frozen=True)
class SoundJob:
    """An indexed song whose row lacks the network's description, as its row last saw the file.

    Size and mtime come along so the worker can tell that the file changed since its features
    were computed: describing the new content would pair two different recordings in one row.
    """

    song_id: int
    path: str
    size_bytes: int
    mtime_ns: int

    def __fspath__(self) -> str:
        return self.path


@dataclass(frozen=True)
class SoundRecord:
    """The network's description of an indexed song, to store beside its (untouched) features."""

    song_id: int
    path: str
    size_bytes: int
    mtime_ns: int
    sound: SoundDescription | None
    """None when the window is shorter than one 3-s patch: stored as "too short" (see
    `SongRecord.sound_version`)."""
    version: str = EMBEDDING_VERSION
    audio_hash: str | None = None
    """`audio_hash` of the described window: the file is the one the row's features came from
    (same size and mtime), so a row analysed before the hash existed learns it here."""


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

    The window is decoded once: its audio hash, the 57 features and the network's description
    all come from the same samples. With ``known_audio_hash`` (the row's), a file whose window
    still has that hash is not analysed again: a `Refreshed` carries its new file state and
    tags instead.
    """
    try:
        stat = path.stat()
        content_hash = file_hash(path)
    except OSError as exc:
        raise FileError(path, exc.strerror or str(exc)) from exc
    decoded = decode_window(path, sr=SR, window_s=window_s)
    window_hash = audio_hash(decoded)
    tags = read_tags(path)
    facts = Refreshed(
        path=str(path),
        content_hash=content_hash,
        size_bytes=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        title=tags.title,
        artist=tags.artist,
        album=tags.album,
        duration_s=float(decoded.duration_s),
        audio_hash=window_hash,
    )
    if known_audio_hash is not None and window_hash == known_audio_hash:
        return facts
    return SongRecord(
        **asdict(facts),
        features=extract_features(y=decoded.y, sr=decoded.sr, path=path),
        sound=describe_sound(decoded.y, decoded.sr, path),
    )


def describe_sound(y: np.ndarray, sr: int, path: Path | str) -> SoundDescription | None:
    """The network's description of the window already decoded for the features (one decode).

    None for a window shorter than one 3-s patch: such a clip still has its 57 features.
    """
    try:
        return describe(y=y, sr=sr, path=path)
    except TooShortError:
        return None


def describe_file(job: SoundJob, *, window_s: float) -> SoundRecord:
    """The network's description of a song indexed without one; its features are not computed.

    Decodes the same window the features were computed from (the middle ``window_s`` seconds,
    at the features' rate, as `analyse_file` does), so a backfilled row holds what one full
    analysis would have stored, the window's audio hash included. FileError when the file is
    gone, unreadable, or changed since its row was written (`soundalike index` then analyses
    it again, whole).
    """
    try:
        stat = os.stat(job.path)
    except OSError as exc:
        raise FileError(job.path, exc.strerror or str(exc)) from exc
    if (stat.st_size, stat.st_mtime_ns) != (job.size_bytes, job.mtime_ns):
        raise FileError(job.path, "changed since it was indexed; `soundalike index` analyses it")
    decoded = decode_window(Path(job.path), sr=SR, window_s=window_s)
    return SoundRecord(
        song_id=job.song_id,
        path=job.path,
        size_bytes=job.size_bytes,
        mtime_ns=job.mtime_ns,
        sound=describe_sound(decoded.y, decoded.sr, job.path),
        audio_hash=audio_hash(decoded),
    )


WorkItem = Path | RecheckJob | SoundJob
"""What a worker is handed: a file to analyse, a changed file to recheck, a row to describe."""


def work_for_report(
    item: WorkItem, window_s: float
) -> SongRecord | Refreshed | SoundRecord | Skipped:
    """Worker entry point: the item's record, or the reason its file is skipped.

    A path is analysed whole (`SongRecord`); a `RecheckJob` is refreshed when its audio hash
    still matches (`Refreshed`), else analysed whole; a `SoundJob` is only described by the
    network (`SoundRecord`). One pool (and one progress bar) serves them all, so ``index``
    analyses new files, refreshes retagged ones and describes unchanged ones in one run.
    """
    try:
        if isinstance(item, SoundJob):
            return describe_file(item, window_s=window_s)
        if isinstance(item, RecheckJob):
            return analyse_file(
                Path(item.path), window_s=window_s, known_audio_hash=item.known_audio_hash
            )
        return analyse_file(item, window_s=window_s)
    except FileError as exc:
        return Skipped(os.fspath(item), exc.reason)
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop a whole library
        return Skipped(os.fspath(item), f"unexpected {type(exc).__name__}: {exc}")


KERNEL_LOCK_TIMEOUT_S = 600.0


def kernel_lock_path() -> Path:
    """The lock that serializes compiling numba's kernels in one Python environment.

    numba writes its on-disk cache (beside the compiled module) without locking: two processes
    compiling the same kernel at once, as fresh workers do on a new install, can leave an index
    that points into the other's data file, and every later process that loads it crashes with a
    segmentation fault. One lock per environment (``sys.prefix``) makes the first process compile
    and write, and the others wait, then load the finished cache.
    """
    env = hashlib.blake2b(sys.prefix.encode(), digest_size=8).hexdigest()
    return Path(tempfile.gettempdir()) / f"soundalike-kernels-{env}.lock"


def load_kernels(*, features: bool = True) -> None:
    """Load what the first file would otherwise pay for: the compiled median, the networks.

    The compiled median (numba, when the ``fast`` extra is installed) is worth its load time
    only over many files, so it is loaded here, for indexing, and not by the extractor itself;
    without numba the extractor keeps bottleneck's median. One extraction of 1 s of noise then
    builds the filter banks and FFT plans. ``features=False`` loads the network's sessions
    alone, for runs that only describe sound (backfill).
    """
    if features:
        with file_lock(kernel_lock_path(), timeout_s=KERNEL_LOCK_TIMEOUT_S):
            load_median_kernel()
        noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
        extract_features(y=noise, sr=SR)
    load_session()


def warm_worker(features: bool = True) -> None:
    """Prepare a worker process: kernels loaded once per worker, not once per file.

    Also limits BLAS to one thread: the workers already fill the cores, and two BLAS threads
    per worker only add contention. ``features`` as for `load_kernels` (positional, so a
    process pool can pass it as ``initargs``).
    """
    threadpoolctl.threadpool_limits(limits=1)
    load_kernels(features=features)
