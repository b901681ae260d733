"""Files shared between processes: the lock that serializes their writers, and atomic writes.

Every process that writes the index or the model (the CLI, the service, a Dask worker's parent)
takes the same lock file first, so two of them never interleave their writes; and each file is
written whole beside its final name and renamed over it, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from indexer.errors import IndexerError

# ``.NAME.PID-RANDOM.tmp.SUFFIX``, as `atomic_path` names its temporary files; also
# ``.NAME.PID.tmp``, the name earlier versions gave them, so their leftovers go too.
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)(-[A-Za-z0-9_]+)?\.tmp(\.[^.]*)?$")


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


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The caller writes the whole file to the yielded path. It is then fsynced, renamed over
    ``path`` (a rename within one folder is atomic), and the folder is fsynced so the rename
    itself survives a power cut. On an exception ``path`` is left as it was. The temporary name
    keeps the suffix, since some writers (XGBoost) choose the format by it, and names the writing
    process, so `remove_stale_temporaries` can tell a dead writer's leftover from a live write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=f".tmp{path.suffix}"
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(0o644)
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def remove_stale_temporaries(folder: Path) -> None:
    """Delete the temporary files of `atomic_path` whose writing process no longer runs."""
    for path in folder.glob(".*.tmp*"):
        match = _TEMPORARY.match(path.name)
        if match and not _process_alive(int(match["pid"])):
            path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
