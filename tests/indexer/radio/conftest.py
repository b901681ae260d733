"""A library of GTZAN feature rows whose files are real clips MPD can play, and an MPD over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mpd
import pytest

from indexer.library import Library
from tests.helpers import write_tone
from tests.indexer.radio.mpd_server import mpd_connection, running_mpd
from tests.indexer.walks.gtzan_library import fill_gtzan_library

# Long enough that nothing ends unless a test makes it, even on a busy machine: MPD plays at
# real time on its null output.
CLIP_S = 30.0


@pytest.fixture
def music(tmp_path: Path) -> Path:
    return tmp_path / "music"


@pytest.fixture
def filled(library: Library, music: Path) -> list[int]:
    """48 songs of six genres (the genre is the artist), each file a real tone MPD can play."""
    ids = fill_gtzan_library(library, music)
    for song in library.get_songs(ids).values():
        write_tone(Path(song.path), freq_hz=200 + song.id, seconds=CLIP_S, sr=8000)
    return ids


@pytest.fixture
def mpd_port(filled: list[int], music: Path, tmp_path: Path) -> Iterator[int]:
    with running_mpd(music, tmp_path / "mpd") as port:
        yield port


@pytest.fixture
def mpd_client(mpd_port: int) -> Iterator[mpd.MPDClient]:
    """A listener's connection to the test MPD."""
    with mpd_connection(mpd_port) as connection:
        yield connection
