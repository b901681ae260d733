"""The FAISS inner-product index of song vectors, saved atomically beside a manifest.

The index is derived data: every vector can be recomputed from the database rows, so the
files here may be deleted at any time and rebuilt with ``soundalike rebuild``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.errors import StoreError
from indexer.vectors.kinds import (
    KIND_FLAT,
    KIND_HNSW,
    KIND_IVF,
    MASKED_ID,
    apply_search_params,
    default_params,
    kind_of,
    new_index,
    search_parameters,
    train,
    tune_nprobe,
)

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


class VectorIndex:
    """Song vectors keyed by song id; inner product of unit vectors is their cosine."""

    def __init__(
        self, index: faiss.Index, *, kind: str | None = None, params: dict[str, Any] | None = None
    ) -> None:
        self._index = index
        self.kind = kind or kind_of(index)
        self.params = dict(params or {})
        self._masked = self._count_masked()
        self._search_params: Any = None
        self._library_params: Any = None

    @classmethod
    def empty(
        cls, dim: int, *, kind: str = KIND_FLAT, params: dict[str, Any] | None = None
    ) -> VectorIndex:
        """An index of ``kind`` with no vectors (an IVF one trains on its first batch)."""
        if kind == KIND_IVF and not params:
            raise StoreError("an empty IVF index needs its nlist and nprobe; use build()")
        params = default_params(kind, 0) | (params or {})
        return cls(new_index(kind, dim, params), kind=kind, params=params)

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
    ) -> VectorIndex:
        """An index of ``kind`` over all of ``vectors``; IVF centroids are fitted on them."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        given = dict(params or {})
        params = default_params(kind, len(vectors)) | given
        raw = new_index(kind, vectors.shape[1], params)
        train(raw, kind, vectors)
        index = cls(raw, kind=kind, params=params)
        index.add(ids, vectors)
        if kind == KIND_IVF and "nprobe" not in given and len(vectors):
            nprobe, recall = tune_nprobe(raw, np.asarray(ids, dtype=np.int64), vectors)
            index.params |= {"nprobe_library": nprobe, "library_recall": round(recall, 4)}
        return index

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal) - self._masked

    @property
    def masked(self) -> int:
        """Removed HNSW nodes still in the graph (always 0 for the other kinds)."""
        return self._masked

    @property
    def faiss_index(self) -> faiss.Index:
        """The underlying FAISS index (for saving)."""
        return self._index

    def _count_masked(self) -> int:
        if self.kind != KIND_HNSW:
            return 0
        return int(np.count_nonzero(self._id_map() == MASKED_ID))

    def _id_map(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def ids(self) -> np.ndarray:
        """Every id in the index, as int64."""
        if self.kind == KIND_IVF:
            invlists = faiss.extract_index_ivf(self._index).invlists
            parts = [
                faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                for i in range(invlists.nlist)
                if invlists.list_size(i)
            ]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        ids = self._id_map()
        return ids[ids != MASKED_ID]

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add or replace vectors for ``ids`` (IDMap2 would otherwise keep duplicates)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(ids) == 0:
            return
        if vectors.shape != (len(ids), self.dim):
            raise StoreError(
                f"expected vectors of shape {(len(ids), self.dim)}, got {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise StoreError("refusing to index non-finite vectors")
        if (ids < 0).any() or (ids >= 2**62).any():
            raise StoreError("song ids must lie in [0, 2**62)")
        self.remove(ids)
        train(self._index, self.kind, vectors)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove vectors by id; returns how many were removed (HNSW nodes are masked)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0 or len(self) == 0:
            return 0
        if self.kind == KIND_HNSW:
            return self._mask(ids)
        if self.kind == KIND_IVF:
            # The id hash table of an IVF index removes by an explicit array of ids only.
            return int(self._index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))))
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def _mask(self, ids: np.ndarray) -> int:
        # A graph cannot lose nodes without breaking paths through them: keep the node, give it
        # the id -1 so searches skip it (see search_parameters); compact() drops it for good.
        id_map = self._id_map()
        hit = np.isin(id_map, ids) & (id_map != MASKED_ID)
        removed = int(np.count_nonzero(hit))
        if removed:
            id_map[hit] = MASKED_ID
            faiss.copy_array_to_vector(id_map, self._index.id_map)
            self._index.construct_rev_map()
            self._masked += removed
            self._search_params = None
        return removed

    def compact(self) -> VectorIndex:
        """The same vectors without masked HNSW nodes (a rebuild of the graph); else self."""
        if self._masked == 0:
            return self
        graph = faiss.downcast_index(self._index.index)
        vectors = graph.storage.reconstruct_n(0, graph.ntotal)
        id_map = self._id_map()
        live = id_map != MASKED_ID
        return VectorIndex.build(id_map[live], vectors[live], kind=self.kind, params=self.params)

    def reconstruct(self, song_id: int) -> np.ndarray | None:
        """The stored vector of one song, or None when it is not indexed."""
        if song_id < 0:
            return None
        try:
            return self._index.reconstruct(int(song_id))
        except RuntimeError:
            return None

    def search(
        self, vectors: np.ndarray, *, k: int, library_songs: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)`` per query row; missing slots have id -1.

        ``library_songs``: the queries are vectors of songs in this index. An IVF index tuned at
        build time then scans fewer lists (``nprobe_library``, see `tune_nprobe`); any other
        vector keeps the default ``nprobe``.
        """
        queries = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        k = max(1, min(int(k), max(len(self), 1)))
        if len(self) == 0:
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        if library_songs and "nprobe_library" in self.params:
            if self._library_params is None:
                self._library_params = faiss.SearchParametersIVF(
                    nprobe=int(self.params["nprobe_library"])
                )
            return self._index.search(queries, k, params=self._library_params)
        if self._search_params is None and self._masked:
            self._search_params = search_parameters(self._index, self.kind, masked=self._masked)
        scores, ids = self._index.search(queries, k, params=self._search_params)
        return scores, ids


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


def _write_atomically(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Write through a temporary file in the same folder, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_index(
    index: VectorIndex,
    index_dir: Path,
    *,
    scaler_version: str,
    model_version: str | None,
    synced_at: str | None,
) -> Manifest:
    """Write the index as a new generation, then point the manifest at it.

    Readers always see a complete (index, manifest) pair: the index file is new and
    fully written before the manifest naming it replaces the old manifest.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(index_dir)
    generation = (previous.generation if previous else 0) + 1
    index_file = f"vectors.{generation}.faiss"
    _write_atomically(
        index_dir / index_file, lambda tmp: faiss.write_index(index.faiss_index, str(tmp))
    )
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
    )
    _write_atomically(
        index_dir / MANIFEST_NAME,
        lambda tmp: tmp.write_text(json.dumps(asdict(manifest), indent=2) + "\n"),
    )
    _remove_old_generations(index_dir, keep={index_file, previous.index_file if previous else ""})
    return manifest


def _remove_old_generations(index_dir: Path, *, keep: set[str]) -> None:
    # The previous generation stays so a reader that just read the old manifest can still open it.
    for path in index_dir.glob("vectors.*.faiss"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
    # A writer killed mid-write leaves its temporary file (up to the index's size) behind.
    for path in index_dir.glob(".*.tmp"):
        if not _writer_alive(path):
            path.unlink(missing_ok=True)


def _writer_alive(tmp: Path) -> bool:
    """Whether the process named in a temporary file's name (``.NAME.PID.tmp``) still runs."""
    try:
        pid = int(tmp.name.rsplit(".", 2)[-2])
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


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
    """Serialize writers of the index across processes (an advisory ``flock``)."""
    import fcntl

    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_NAME, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"another soundalike process holds {index_dir / LOCK_NAME}"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
