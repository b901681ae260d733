"""Finding a library's audio files through folder symlinks, each file once."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.ingest.scan import expand_paths, has_audio, scan_library
from tests.helpers import write_tone


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    """Artist folders kept outside the library, as on a mounted network share."""
    share = tmp_path / "nas"
    write_tone(share / "Alpha" / "one.wav", freq_hz=220, seconds=0.5)
    write_tone(share / "Alpha" / "Live" / "two.flac", freq_hz=330, seconds=0.5)
    write_tone(share / "Beta" / "three.ogg", freq_hz=440, seconds=0.5)
    return share


def relative(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_symlinked_folders_are_followed_and_a_loop_ends(tmp_path: Path, nas: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    (music / "Alpha").symlink_to(nas / "Alpha", target_is_directory=True)
    (music / "Beta").symlink_to(nas / "Beta", target_is_directory=True)
    # Links back up the tree: to the library itself and to a folder holding it.
    (nas / "Alpha" / "Live" / "back").symlink_to(music, target_is_directory=True)
    (nas / "Beta" / "up").symlink_to(tmp_path, target_is_directory=True)

    found = scan_library(music)

    assert relative(found, music) == ["Alpha/Live/two.flac", "Alpha/one.wav", "Beta/three.ogg"]
    assert all(p.is_absolute() for p in found)


def test_a_folder_linked_twice_is_scanned_once_under_the_first_link(
    tmp_path: Path, nas: Path
) -> None:
    music = tmp_path / "music"
    music.mkdir()
    (music / "Zeta").symlink_to(nas / "Alpha", target_is_directory=True)
    (music / "Alpha").symlink_to(nas / "Alpha", target_is_directory=True)
    # A link to a folder inside a linked folder: the same files a third time.
    (music / "Concerts").symlink_to(nas / "Alpha" / "Live", target_is_directory=True)

    assert relative(scan_library(music), music) == ["Alpha/Live/two.flac", "Alpha/one.wav"]


def test_a_symlinked_file_is_indexed_at_its_real_place(tmp_path: Path) -> None:
    music = tmp_path / "music"
    real = write_tone(music / "Zeta" / "song.wav", seconds=0.5)
    (music / "Favourites").mkdir()
    (music / "Favourites" / "song.wav").symlink_to(real)
    (music / "Favourites" / "Zeta").symlink_to(music / "Zeta", target_is_directory=True)
    outside = write_tone(tmp_path / "elsewhere" / "outside.wav", freq_hz=550, seconds=0.5)
    (music / "Favourites" / "outside.wav").symlink_to(outside)
    (music / "Favourites" / "b-outside.wav").symlink_to(outside)

    assert relative(scan_library(music), music) == [
        "Favourites/b-outside.wav",
        "Zeta/song.wav",
    ]


def test_a_file_given_twice_is_expanded_once(tmp_path: Path, nas: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(nas / "Beta", target_is_directory=True)

    found = expand_paths([nas / "Beta" / "three.ogg", link, nas / "Beta"])

    assert found == [nas / "Beta" / "three.ogg"]


def test_broken_links_are_kept_so_the_run_reports_them(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    (music / "gone.flac").symlink_to(tmp_path / "missing.flac")
    (music / "gone-folder").symlink_to(tmp_path / "missing", target_is_directory=True)
    (music / "loop-a.ogg").symlink_to(music / "loop-b.ogg")
    (music / "loop-b.ogg").symlink_to(music / "loop-a.ogg")

    assert relative(scan_library(music), music) == ["gone.flac", "loop-a.ogg", "loop-b.ogg"]


def test_has_audio_looks_through_links(tmp_path: Path, nas: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "cover.jpg").write_bytes(b"\xff\xd8")
    (empty / "loop").symlink_to(empty, target_is_directory=True)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "Beta").symlink_to(nas / "Beta", target_is_directory=True)

    assert not has_audio(empty)
    assert scan_library(empty) == []
    assert has_audio(linked)
