"""A service worker starts without the libraries only training and uploads need."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import service, service.songs, service.similar, service.paths, service.library, service.pages
import service.api_document, service.schemas.common, service.subsonic
import indexer.library, indexer.vectors.store
heavy = sorted(m for m in ("sklearn", "xgboost", "librosa") if m in sys.modules)
print(",".join(heavy))
"""


def test_serving_imports_neither_scikit_learn_nor_xgboost() -> None:
    # Each server worker imports the app; these two cost about a second per process.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert "sklearn" not in out.split(",")
    assert "xgboost" not in out.split(",")
