from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import StoreError
from indexer.files import file_lock


def test_a_held_lock_makes_a_second_holder_give_up_with_the_typed_error(tmp_path: Path) -> None:
    lock_path = tmp_path / "sub" / "write.lock"
    with file_lock(lock_path, timeout_s=1.0, error=StoreError):
        with pytest.raises(StoreError, match="write.lock"):
            with file_lock(lock_path, timeout_s=0.1, error=StoreError):
                pass
    # Released: the next holder gets it at once.
    with file_lock(lock_path, timeout_s=0.1, error=StoreError):
        assert lock_path.parent.is_dir()
