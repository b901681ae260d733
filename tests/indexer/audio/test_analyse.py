"""The worker side of bulk indexing stays light to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
