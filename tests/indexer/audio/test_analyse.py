"""The worker side of bulk indexing stays light to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from indexer.audio import analyse, hpss

ROOT = Path(__file__).resolve().parents[3]


def test_worker_module_imports_no_database_index_or_model_library() -> None:
    # A spawned worker (macOS, Windows) or a Dask worker imports indexer.audio.analyse; these
    # would add seconds to every worker's start and are never used there.
    code = (
        "import sys, indexer.audio.analyse; "
        "print(sorted({'faiss', 'xgboost', 'sklearn', 'sqlalchemy', 'dask'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


def test_kernels_compile_one_process_at_a_time(tmp_path: Path) -> None:
    # numba's cache is written without a lock; two fresh workers compiling at once once left an
    # index that crashed every later process. load_kernels must wait while another holds the lock.
    from filelock import FileLock

    from indexer.audio.analyse import kernel_lock_path

    marker = tmp_path / "compiled"
    code = (
        "import pathlib, indexer.audio.analyse as a; a.load_kernels(); "
        f"pathlib.Path({str(marker)!r}).write_text('done')"
    )
    lock = FileLock(kernel_lock_path(), thread_local=False)
    with lock:
        worker = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        assert not marker.exists(), "compiled while another process held the kernel lock"
    assert worker.wait(timeout=300) == 0
    assert marker.read_text() == "done"


def test_without_numba_indexing_warms_up_on_bottlenecks_median(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A runtime install has no numba (it is the ``fast`` extra): the warm-up must say so and
    # leave the exact bottleneck median in place, not fail the indexing run.
    monkeypatch.setattr(hpss, "_kernel", None)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises, as if absent
    monkeypatch.delitem(sys.modules, "indexer.audio.median_kernel", raising=False)

    assert hpss.load_median_kernel() is False
    analyse.load_kernels(features=True)

    assert hpss._kernel is None
