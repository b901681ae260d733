"""Find the audio files of a library folder."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".wma"}
)


def is_audio_name(path: Path) -> bool:
    """Whether a file name has an extension we try to decode."""
    return path.suffix.lower() in AUDIO_EXTENSIONS


def scan_library(root: Path) -> list[Path]:
    """Every file under ``root`` with an audio extension, sorted, as absolute paths.

    Folder symlinks are not followed (a loop would never end); file symlinks are kept.
    """
    root = Path(os.path.abspath(root))
    if root.is_file():
        return [root] if is_audio_name(root) else []
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        found.extend(Path(folder, name) for name in files if is_audio_name(Path(name)))
    return sorted(found)


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files and folders given on a command line, folders scanned, duplicates dropped."""
    seen: dict[Path, None] = {}
    for path in paths:
        absolute = Path(os.path.abspath(path))
        if absolute.is_dir():
            for found in scan_library(absolute):
                seen.setdefault(found, None)
        else:
            seen.setdefault(absolute, None)
    return list(seen)
