"""``soundalike serve``: the production server's per-request log can be turned off."""

from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import make_settings, serving


@pytest.mark.parametrize(("args", "logged"), [((), True), (("--no-access-log",), False)])
def test_access_log_line_per_request(
    tmp_path: Path, trained_model_dir: Path, args: tuple[str, ...], logged: bool
) -> None:
    settings = make_settings(
        tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'db.sqlite'}", trained_model_dir
    )
    env = {
        **os.environ,
        "SOUNDALIKE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
    }
    log_path = tmp_path / "server.log"
    with serving(env, log_path, workers=1, args=args) as base:
        with urllib.request.urlopen(f"{base}/api/songs?limit=3", timeout=30) as response:
            assert response.status == 200
        # The worker writes its access line after answering; stopping it at once could lose the
        # line before it reaches the file. Wait for it (long when expected, briefly when not).
        deadline = time.monotonic() + (30.0 if logged else 2.0)
        while '"GET /api/songs' not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    log = log_path.read_text()
    assert "Serving" in log
    assert ('"GET /api/songs' in log) is logged
