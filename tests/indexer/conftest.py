"""Fixtures for decoding, tag and feature tests: synthetic audio on disk and the GTZAN table."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from indexer.audio.feature_columns import FEATURE_NAMES

TEST_DATA = Path(__file__).resolve().parent.parent / "data"
GTZAN_DIR = TEST_DATA / "gtzan"
CLIPS_DIR = TEST_DATA / "clips"
GTZAN_TABLE = (
    Path(__file__).resolve().parents[2] / "indexer" / "model" / "data" / "features_30_sec.csv"
)

SR = 22050

# Frames per soundfile write: libsndfile's Vorbis encoder overflows its stack (a segfault) on
# one long write, see bastibe/python-soundfile#233 and libsndfile/libsndfile#1095.
_WRITE_BLOCK = 1 << 16


def write_audio(path: Path, y: np.ndarray, sr: int = SR, **kwargs: object) -> Path:
    """Write ``y`` [shape=(n,) or (n, channels)] with soundfile, in blocks (see above)."""
    y = np.asarray(y, dtype=np.float32)
    channels = 1 if y.ndim == 1 else y.shape[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, **kwargs) as f:
        for start in range(0, len(y), _WRITE_BLOCK):
            f.write(y[start : start + _WRITE_BLOCK])
    return path


def sine(freq_hz: float = 440.0, *, seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    """A pure tone at half full scale, [shape=(n,)]."""
    t = np.arange(round(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def stepped_tone(freqs_hz: list[float], *, step_s: float, sr: int = SR) -> np.ndarray:
    """Tones of ``freqs_hz`` one after another, ``step_s`` each, phase-continuous."""
    freq = np.repeat(np.asarray(freqs_hz, dtype=np.float64), round(step_s * sr))
    return (0.5 * np.sin(2 * np.pi * np.cumsum(freq) / sr)).astype(np.float32)


def noise(*, seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """White noise at a tenth of full scale, [shape=(n,)]."""
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(round(seconds * sr))).astype(np.float32)


def silence(*, seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    """Digital silence, [shape=(n,)]."""
    return np.zeros(round(seconds * sr), dtype=np.float32)


def click(*, seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    """A single full-scale sample one second in, silence elsewhere, [shape=(n,)]."""
    y = silence(seconds=seconds, sr=sr)
    y[min(sr, len(y) - 1)] = 1.0
    return y


def dominant_hz(y: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest FFT bin: enough to tell the steps of a stepped tone apart."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[spectrum.argmax()])


@pytest.fixture
def audio_file(tmp_path: Path) -> Callable[..., Path]:
    """Write samples to ``tmp_path / name`` with soundfile; format from the extension."""

    def write(name: str, y: np.ndarray, sr: int = SR, **kwargs: object) -> Path:
        return write_audio(tmp_path / name, y, sr, **kwargs)

    return write


@cache
def _gtzan_table() -> dict[str, dict[str, str]]:
    with GTZAN_TABLE.open(newline="") as f:
        return {row["filename"]: row for row in csv.DictReader(f)}


def gtzan_row(filename: str) -> np.ndarray:
    """The table's 57 features for ``filename`` (e.g. ``blues.00001.wav``), [shape=(57,)]."""
    row = _gtzan_table()[filename]
    return np.array([float(row[name]) for name in FEATURE_NAMES])


@cache
def gtzan_std() -> np.ndarray:
    """Each feature's standard deviation over the 1000 table rows, [shape=(57,)]."""
    rows = _gtzan_table().values()
    return np.array([[float(row[name]) for name in FEATURE_NAMES] for row in rows]).std(axis=0)


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
