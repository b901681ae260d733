"""Fixtures for decoding, tag and feature tests: synthetic audio on disk and the GTZAN table."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indexer.audio.feature_columns import FEATURE_NAMES
from tests.helpers import GTZAN_TABLE, SR, write_audio


@pytest.fixture
def audio_file(tmp_path: Path) -> Callable[..., Path]:
    """Write samples to ``tmp_path / name`` with soundfile; format from the extension."""

    def write(name: str, y: np.ndarray, sr: int = SR, **kwargs: object) -> Path:
        return write_audio(tmp_path / name, y, sr, **kwargs)

    return write


@pytest.fixture
def small_table(tmp_path: Path) -> Path:
    """200 rows of the bundled table, as a user's own labelled table with an artist column."""
    with GTZAN_TABLE.open() as handle:
        rows = list(csv.DictReader(handle))
    picked = [row for i, row in enumerate(rows) if i % 5 == 0]
    out = tmp_path / "mine.csv"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["filename", *FEATURE_NAMES, "label", "group"])
        writer.writeheader()
        for i, row in enumerate(picked):
            writer.writerow(
                {
                    "filename": row["filename"],
                    **{name: row[name] for name in FEATURE_NAMES},
                    "label": row["label"],
                    "group": str(i // 4),
                }
            )
    return out
