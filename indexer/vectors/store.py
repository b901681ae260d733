"""The song-vector indexes on disk: each save a new generation, written atomically with a manifest.

Each vector space (`indexer.model.spaces`) has its own folder under the index dir
(``index/sound``, ``index/features``) with its own manifest, generations and writer lock; the
old single-space layout (one manifest straight in ``index/``) is retired on first use. Loading
an index back, the lock that serializes writers, and `IndexReader`, which keeps a long-running
reader on the newest generation. The index in memory is `indexer.vectors.index`.

The index is derived data: every vector can be recomputed from the database rows, so the
files here may be deleted at any time and rebuilt with ``soundalike rebuild``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss

from indexer.errors import ParameterError, StoreError
from indexer.files import atomic_path, file_lock, remove_stale_temporaries, write_atomic
from indexer.model.spaces import SPACES
from indexer.vectors.index import VectorIndex
from indexer.vectors.kinds import KIND_FLAT, apply_search_params, kind_of

MANIFEST_NAME = "manifest.json"
LOCK_NAME = "write.lock"
INDEX_KIND_FLAT = KIND_FLAT


@dataclass(frozen=True)
class Manifest:
    """What an index file holds, so readers can tell whether it is current and compatible."""

    generation: int
    count: int
    dim: int
    kind: str
    index_file: str
    scaler_version: str
    model_version: str | None
    synced_at: str | None
    written_at: str
    # Build and search parameters of the kind (nlist/nprobe, M/efSearch); masked HNSW nodes.
    params: dict[str, Any] = field(default_factory=dict)
    masked: int = 0
    # The vector space, and the songs of the database it could not hold at sync time (in the
    # sound space: rows without a current embedding).
    space: str | None = None
    missing: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat()


def read_manifest(index_dir: Path) -> Manifest | None:
    """The current manifest, or None when no index was ever saved."""
    path = index_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(f"unreadable index manifest {path}: {exc}") from exc
    try:
        return Manifest(**data)
    except TypeError as exc:
        raise StoreError(f"index manifest {path} has unexpected fields: {exc}") from exc


def save_index(
    index: VectorIndex,
    index_dir: Path,
    *,
    scaler_version: str,
    model_version: str | None,
    synced_at: str | None,
    space: str | None = None,
    missing: int = 0,
) -> Manifest:
    """Write the index as a new generation, then point the manifest at it.

    Readers always see a complete (index, manifest) pair: the index file is new and
    fully written before the manifest naming it replaces the old manifest.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(index_dir)
    generation = (previous.generation if previous else 0) + 1
    index_file = f"vectors.{generation}.faiss"
    with atomic_path(index_dir / index_file) as tmp:
        faiss.write_index(index.faiss_index, str(tmp))
    manifest = Manifest(
        generation=generation,
        count=len(index),
        dim=index.dim,
        kind=index.kind,
        index_file=index_file,
        scaler_version=scaler_version,
        model_version=model_version,
        synced_at=synced_at,
        written_at=_now(),
        params=index.params,
        masked=index.masked,
        space=space,
        missing=missing,
    )
    write_atomic(
        index_dir / MANIFEST_NAME, (json.dumps(asdict(manifest), indent=2) + "\n").encode()
    )
    _remove_old_generations(index_dir, keep={index_file, previous.index_file if previous else ""})
    return manifest


def space_dir(index_dir: Path, space: str) -> Path:
    """The folder of one vector space's index, inside the library's index dir."""
    if space not in SPACES:
        raise ParameterError(f"unknown vector space {space!r}; choose from {', '.join(SPACES)}")
    return index_dir / space


def retire_single_space_layout(index_dir: Path) -> bool:
    """Remove an index saved before there were spaces (a manifest straight in ``index_dir``).

    That index held the old metric's vectors, which no space uses, and it is derived data: the
    next sync builds each space from the rows. Done under the old layout's writer lock, so an
    older writer still running finishes first. True when something was removed.
    """
    if not (index_dir / MANIFEST_NAME).exists():
        return False
    with write_lock(index_dir):
        manifest = index_dir / MANIFEST_NAME
        if not manifest.exists():
            return False
        # The manifest goes first: a reader that finds no manifest sees no index, never half.
        manifest.unlink()
        for path in index_dir.glob("vectors.*.faiss"):
            path.unlink(missing_ok=True)
        remove_stale_temporaries(index_dir)
    return True


def _remove_old_generations(index_dir: Path, *, keep: set[str]) -> None:
    # The previous generation stays so a reader that just read the old manifest can still open it.
    for path in index_dir.glob("vectors.*.faiss"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
    # A writer killed mid-write leaves its temporary file (up to the index's size) behind.
    remove_stale_temporaries(index_dir)


def load_index(index_dir: Path, *, mmap: bool = False) -> tuple[VectorIndex, Manifest]:
    """Load the index the manifest names; StoreError when missing or corrupt.

    With ``mmap`` the vectors of a flat index are mapped from the file instead of copied
    (quicker start, pages shared between worker processes); such an index is read-only.
    """
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise StoreError(f"no vector index in {index_dir}; run 'soundalike rebuild'")
    path = index_dir / manifest.index_file
    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    try:
        raw = faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        raise StoreError(f"cannot read vector index {path}: {exc}") from exc
    try:
        index = VectorIndex(raw, kind=kind_of(raw), params=manifest.params)
    except StoreError as exc:
        raise StoreError(f"cannot read vector index {path}: {exc}") from exc
    apply_search_params(raw, index.kind, manifest.params)
    if index.kind != manifest.kind or index.dim != manifest.dim or len(index) != manifest.count:
        raise StoreError(f"vector index {path} does not match its manifest")
    return index, manifest


@contextmanager
def write_lock(index_dir: Path, *, timeout_s: float = 600.0) -> Iterator[None]:
    """Serialize writers of the index across processes; `StoreError` after ``timeout_s``.

    A sync or rebuild holds it for as long as it reads the rows and writes a generation, which
    on a large library is minutes, not hours: ten minutes of waiting means the holder is stuck,
    and the writer says so instead of hanging. Readers never take it (they follow the manifest).
    """
    with file_lock(index_dir / LOCK_NAME, timeout_s=timeout_s, error=StoreError):
        yield


class IndexReader:
    """Keeps the newest saved index loaded for a long-running reader such as the service.

    Each call to :meth:`current` checks the manifest (at most every ``check_interval_s``)
    and swaps in a newly saved generation; requests holding the old index finish with it.
    """

    def __init__(self, index_dir: Path, *, check_interval_s: float = 0.5) -> None:
        # A service answers one query per request from many threads: an OpenMP team per query
        # only adds spinning threads that fight the others (70 ms instead of 1 ms under load).
        faiss.omp_set_num_threads(1)
        self.index_dir = index_dir
        self.check_interval_s = check_interval_s
        self._lock = threading.Lock()
        self._loaded: tuple[VectorIndex, Manifest] | None = None
        self._checked_at = 0.0

    def current(self) -> tuple[VectorIndex, Manifest] | None:
        """The newest index and its manifest, or None when none was saved yet."""
        now = time.monotonic()
        if self._loaded is not None and now - self._checked_at < self.check_interval_s:
            return self._loaded
        with self._lock:
            self._checked_at = now
            manifest = read_manifest(self.index_dir)
            if manifest is None:
                self._loaded = None
            elif self._loaded is None or self._loaded[1].generation != manifest.generation:
                self._loaded = self._load_with_retry()
            return self._loaded

    def refresh(self) -> None:
        """Check the manifest on the next call, e.g. right after this process saved an index."""
        self._checked_at = 0.0

    def _load_with_retry(self) -> tuple[VectorIndex, Manifest]:
        # A writer may replace the manifest and prune files between our two reads: read again.
        for _ in range(5):
            try:
                return load_index(self.index_dir, mmap=True)
            except StoreError:
                time.sleep(0.05)
        return load_index(self.index_dir, mmap=True)
