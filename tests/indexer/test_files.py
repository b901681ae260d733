from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.errors import StoreError
from indexer.files import atomic_path, file_lock, remove_stale_temporaries, write_atomic


def test_a_held_lock_makes_a_second_holder_give_up_with_the_typed_error(tmp_path: Path) -> None:
    lock_path = tmp_path / "sub" / "write.lock"
    with file_lock(lock_path, timeout_s=1.0, error=StoreError):
        with pytest.raises(StoreError, match="write.lock"):
            with file_lock(lock_path, timeout_s=0.1, error=StoreError):
                pass
    # Released: the next holder gets it at once.
    with file_lock(lock_path, timeout_s=0.1, error=StoreError):
        assert lock_path.parent.is_dir()


def _fail_midway(path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")


def test_atomic_writes_leave_no_temporary_and_stale_ones_of_dead_writers_go(
    tmp_path: Path,
) -> None:
    write_atomic(tmp_path / "manifest.json", b"{}")
    with pytest.raises(RuntimeError, match="writer failed"):
        _fail_midway(tmp_path / "manifest.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
    assert (tmp_path / "manifest.json").read_bytes() == b"{}"

    # A process id above the kernel's maximum (4194304) never runs.
    dead = tmp_path / ".vectors.3.faiss.9999999-abc_12.tmp.faiss"
    alive = tmp_path / f".vectors.4.faiss.{os.getpid()}-xyz.tmp.faiss"
    dead.write_bytes(b"x")
    alive.write_bytes(b"x")
    remove_stale_temporaries(tmp_path)
    assert not dead.exists()
    assert alive.exists()
