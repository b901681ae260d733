"""Tags: read back what mutagen wrote, and fall back to the file name rather than fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.audio.file_tags import Tags, read_tags
from tests.helpers import sine, write_tags


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("song.flac", {}), ("song.mp3", {"format": "MP3"})],  # Vorbis comments, ID3v2
)
def test_written_tags_are_read_back(
    audio_file: Callable[..., Path], name: str, kwargs: dict[str, str]
) -> None:
    path = audio_file(name, sine(seconds=3.0), **kwargs)
    write_tags(path, title="  Blue in Green ", artist="Bill Evans", album="Kind of Blue")

    tags = read_tags(path)

    assert tags.title == "Blue in Green"
    assert tags.artist == "Bill Evans"
    assert tags.album == "Kind of Blue"
    assert tags.duration_s == pytest.approx(3.0, abs=0.1)


def test_blank_tags_count_as_missing(audio_file: Callable[..., Path]) -> None:
    path = audio_file("late_night.flac", sine())
    write_tags(path, title="   ", artist="", album="Night Songs")

    tags = read_tags(path)

    assert tags.title == "late night"
    assert tags.artist is None
    assert tags.album == "Night Songs"


def test_untagged_file_is_titled_by_its_name(audio_file: Callable[..., Path]) -> None:
    path = audio_file("01_some_song.wav", sine(seconds=2.0))

    tags = read_tags(path)

    assert tags == Tags(title="01 some song", artist=None, album=None, duration_s=tags.duration_s)
    assert tags.duration_s == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("shopping_list.txt", b"eggs\nmilk\n"),
        ("not_really.mp3", b"\xff\xfb" + bytes(range(256)) * 8),  # an mp3 sync word, then junk
        ("broken_tags.flac", b"fLaC" + b"\x00" * 64),
        ("empty.ogg", b""),
    ],
)
def test_non_audio_files_do_not_raise(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    tags = read_tags(path)

    assert tags == Tags(title=path.stem.replace("_", " "), artist=None, album=None, duration_s=None)


def test_missing_file_does_not_raise(tmp_path: Path) -> None:
    assert read_tags(tmp_path / "gone.mp3").title == "gone"
