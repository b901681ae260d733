"""Files shared between processes: the cross-process lock that serializes their writers.

Every process that writes the index or the model (the CLI, the service, a Dask worker's parent)
takes the same lock file first, so two of them never interleave their writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from indexer.errors import IndexerError


@contextmanager
def file_lock(
    lock_path: Path, *, timeout_s: float, error: type[IndexerError] = IndexerError
) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created with its folder) across processes.

    The lock is an OS lock on an open file (``flock`` on POSIX), so it is released when the
    holder exits or dies, never left stale. Waiting is bounded: after ``timeout_s`` seconds
    ``error`` is raised naming the lock file, rather than a process hanging behind a holder that
    is itself stuck. Each call opens its own lock, so threads of one process also exclude each
    other.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, timeout=timeout_s, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise error(
            f"another soundalike process has held {lock_path} for over {timeout_s:g} s"
        ) from None
    try:
        yield
    finally:
        lock.release()
