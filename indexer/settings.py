"""Configuration, resolved once from the environment and handed down as plain values.

This is the only module that reads ``os.environ``; everything else takes arguments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Where a user's library state lives when nothing is configured (XDG data home)."""
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "soundalike"


@dataclass(frozen=True)
class Settings:
    """Everything the CLI and the service need to find and describe a library."""

    data_dir: Path
    database_url: str
    admin_token: str | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    max_upload_duration_s: float = 3600.0
    upload_timeout_s: float = 60.0
    window_s: float = 30.0
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # "auto" (flat below the threshold, approximate above), or one of flat, ivf, hnsw.
    index_kind: str = "auto"
    index_threshold: int = 100_000

    @property
    def index_dir(self) -> Path:
        """Folder holding the FAISS index files and their manifest."""
        return self.data_dir / "index"

    @property
    def model_dir(self) -> Path:
        """Folder holding the scaler and the genre model."""
        return self.data_dir / "model"


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Build settings from defaults, then ``SOUNDALIKE_*``/``DATABASE_URL``, then ``overrides``."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("SOUNDALIKE_DATA_DIR") or default_data_dir(env)).expanduser()
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": env.get("DATABASE_URL") or "",
        "admin_token": env.get("SOUNDALIKE_ADMIN_TOKEN") or None,
    }
    if env.get("SOUNDALIKE_MAX_UPLOAD_BYTES"):
        values["max_upload_bytes"] = int(env["SOUNDALIKE_MAX_UPLOAD_BYTES"])
    if env.get("SOUNDALIKE_MAX_UPLOAD_DURATION_S"):
        values["max_upload_duration_s"] = float(env["SOUNDALIKE_MAX_UPLOAD_DURATION_S"])
    if env.get("SOUNDALIKE_UPLOAD_TIMEOUT_S"):
        values["upload_timeout_s"] = float(env["SOUNDALIKE_UPLOAD_TIMEOUT_S"])
    if env.get("SOUNDALIKE_WORKERS"):
        values["workers"] = max(1, int(env["SOUNDALIKE_WORKERS"]))
    if env.get("SOUNDALIKE_INDEX_KIND"):
        values["index_kind"] = env["SOUNDALIKE_INDEX_KIND"].strip().lower()
    if env.get("SOUNDALIKE_INDEX_THRESHOLD"):
        values["index_threshold"] = max(1, int(env["SOUNDALIKE_INDEX_THRESHOLD"]))
    values.update(overrides or {})
    values["data_dir"] = Path(str(values["data_dir"])).expanduser().resolve()
    settings = Settings(**values)
    if not settings.database_url:
        settings = replace(
            settings, database_url=f"sqlite:///{settings.data_dir / 'soundalike.db'}"
        )
    return settings
