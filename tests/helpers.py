"""Helpers the tests share: synthetic audio on disk, test databases and settings, a live server.

Plain functions and constants, imported where needed; the fixtures built on them live in the
conftest.py files.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import mutagen
import numpy as np
import psycopg
import pytest
import soundfile as sf
from sqlalchemy.engine import make_url

from db.models import features_to_bytes, utcnow
from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEMO_LIBRARY = ROOT / "demo" / "library"
TEST_DATA = ROOT / "tests" / "data"

# The machine's PostgreSQL (trust auth); each test gets a database of its own on it.
PG_ADMIN_URL = os.environ.get(
    "SOUNDALIKE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_pg_database() -> str:
    """A new, empty database on the test PostgreSQL server; its SQLAlchemy URL."""
    name = f"soundalike_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_dsn(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop a database made by :func:`create_pg_database`, closing its connections."""
    name = make_url(url).database
    with psycopg.connect(_pg_dsn(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(data_dir: Path, db_url: str, trained_model_dir: Path, **extra) -> Settings:
    """Settings for a test library, with the session's trained model already in place."""
    shutil.copytree(trained_model_dir, data_dir / "model", dirs_exist_ok=True)
    return load_settings(
        environ={}, overrides={"data_dir": data_dir, "database_url": db_url, **extra}
    )


def write_tone(
    path: Path, *, freq_hz: float = 440.0, seconds: float = 3.0, sr: int = 22050, **kwargs
) -> Path:
    """Write a sine tone with a little noise (so features are not degenerate)."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(int(freq_hz))
    y = 0.5 * np.sin(2 * np.pi * freq_hz * t) + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), sr, **kwargs)
    return path


def old_song_row(path: Path, n: int, *, duration_s: float = 3.2) -> dict[str, object]:
    """A row as indexed before revision 0004: no sound description, recognisable features.

    The features are not what the audio would give, so a backfill that recomputed them would
    show; size and mtime are the file's, so the row counts as unchanged.
    """
    stat = path.stat() if path.exists() else None
    return {
        "path": str(path),
        "content_hash": f"{n:064x}",
        "size_bytes": stat.st_size if stat else 1,
        "mtime_ns": stat.st_mtime_ns if stat else 1,
        "title": path.stem,
        "duration_s": duration_s,
        "features": features_to_bytes(np.arange(1.0, 58.0) * (n + 1)),
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }


def write_tags(path: Path, **values: str) -> None:
    """Write easy tags (title, artist, album) with mutagen, adding a tag block if needed."""
    audio = mutagen.File(path, easy=True)
    if audio.tags is None:
        audio.add_tags()
    for key, value in values.items():
        audio[key] = value
    audio.save()


def multipart(
    path: Path | None = None, *, data: bytes = b"", filename: str = ""
) -> tuple[bytes, dict]:
    """A multipart body with one ``file`` field built in memory (a file's bytes, or ``data``)."""
    boundary = uuid.uuid4().hex
    if path is not None:
        data, filename = path.read_bytes(), filename or path.name
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


CLI = [sys.executable, "-m", "indexer.cli"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    env: dict[str, str], log_path: Path, *, workers: int = 2, args: Sequence[str] = ()
) -> tuple:
    """Start ``soundalike serve`` on a free loopback port; (process, base URL) once it answers."""
    port = free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--workers", str(workers), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    # Generous: the first request loads the model and index, and the machine may be busy.
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=30):
                return server, base
        except OSError:  # refused, reset or timed out while the server starts
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                server.wait(timeout=30)
                pytest.fail(f"server did not start:\n{log_path.read_text()}")
            time.sleep(0.2)


@contextmanager
def serving(
    env: dict[str, str], log_path: Path, *, workers: int = 2, args: Sequence[str] = ()
) -> Iterator[str]:
    """A running ``soundalike serve`` for the block; yields its base URL, then stops it."""
    server, base = start_server(env, log_path, workers=workers, args=args)
    try:
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def write_tones(root: Path, freqs: list[int], *, seconds: float = 1.5) -> list[Path]:
    """Short noisy tones, one per frequency: quick to analyse, distinct features."""
    return [write_tone(root / f"tone{f}.wav", freq_hz=f, seconds=seconds) for f in freqs]


GTZAN_DIR = TEST_DATA / "gtzan"
CLIPS_DIR = TEST_DATA / "clips"
GTZAN_TABLE = ROOT / "indexer" / "model" / "data" / "features_30_sec.csv"

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


# Songs of two spaces that disagree on purpose: by features, song 0's nearest are the other
# blues songs 1 and 2; by sound, it is song 3 (a metal song whose made-up embedding is a near
# copy of song 0's). Embeddings are non-negative like the network's ReLU outputs.
SPACE_SONGS = (
    "blues.00000.wav",
    "blues.00001.wav",
    "blues.00002.wav",
    "metal.00000.wav",
    "metal.00001.wav",
    "rock.00000.wav",
)


def space_embeddings() -> np.ndarray:
    """The made-up embeddings of `SPACE_SONGS` [shape=(6, STORED_DIM)]."""
    from indexer.audio.embedding import STORED_DIM

    rng = np.random.default_rng(7)
    rows = rng.random((len(SPACE_SONGS), STORED_DIM)).astype(np.float32)
    rows[3] = rows[0] + 0.01 * rng.random(STORED_DIM).astype(np.float32)
    return rows


def space_records(*, without: Sequence[int] = (), only: Sequence[int] | None = None) -> list:
    """`SongRecord` of `SPACE_SONGS` (those in ``only``, else all); the ones at positions
    ``without`` have no embedding, as a clip too short for the network."""
    from indexer.audio.analyse import SongRecord
    from indexer.audio.embedding import STORED_TAGS, SoundDescription

    embeddings = space_embeddings()
    records = []
    for i, name in enumerate(SPACE_SONGS):
        if only is not None and i not in only:
            continue
        sound = None
        if i not in without:
            tags = np.full(STORED_TAGS, 0.1, np.float32)
            sound = SoundDescription(embedding=embeddings[i], tags=tags)
        records.append(
            SongRecord(
                path=f"/music/song{i}.wav",
                content_hash=f"{i:064x}",
                size_bytes=1000 + i,
                mtime_ns=i,
                title=f"Song {i}",
                artist=f"Artist {i}",
                album=None,
                duration_s=30.0,
                features=gtzan_row(name),
                sound=sound,
            )
        )
    return records


def clustered_rows(n: int, *, seed: int = 0, dim: int = 57) -> np.ndarray:
    """Unit vectors around 40 centres: clustered like real features, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    rows = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim))
    rows = rows.astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def save_padded_sound_index(library, ids: Sequence[int], *, kind: str = "flat"):
    """Save over `SPACE_SONGS`' sound index what an older version saved: each sound vector
    with 7 zeros after it (464-d, when the space padded its own vectors for FAISS), under
    today's version of the space, so that only the dimension tells it is out of date.
    Returns the manifest."""
    from indexer.model.spaces import SOUND, sound_vectors
    from indexer.vectors.index import VectorIndex
    from indexer.vectors.store import save_index

    raw = np.vstack([gtzan_row(name) for name in SPACE_SONGS])
    joined = sound_vectors(space_embeddings(), standardized=library.scaler.standardize(raw))
    padded = np.hstack([joined, np.zeros((len(joined), 7), np.float32)])
    index = VectorIndex.build(np.asarray(ids, dtype=np.int64), padded, kind=kind)
    return save_index(
        index,
        library.index_dir(SOUND),
        scaler_version=library.space_version(SOUND),
        model_version=library.genre_model.version,
        synced_at=None,
        space=SOUND,
    )
