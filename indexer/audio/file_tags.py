"""Read title, artist, album and duration from a file's tags, never failing on bad tags.

Tags only label a song for people; the features come from the samples. So a file with broken,
missing or unreadable tags is still indexed, under its file name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tags:
    """What a person would call the song; ``None`` where the file does not say."""

    title: str
    artist: str | None
    album: str | None
    duration_s: float | None


def read_tags(path: Path) -> Tags:
    """Read ``path``'s tags with mutagen, falling back to the file name for the title.

    Takes the first value of each tag, stripped of whitespace; empty values count as missing.
    Never raises for bad tags, non-audio files or unreadable files.
    """
    path = Path(path)
    try:
        audio = mutagen.File(path, easy=True)
    except Exception as err:  # noqa: BLE001
        # Deliberately broad: mutagen wraps most failures in MutagenError, but its parsers have
        # leaked struct, index and unicode errors on damaged headers. Tags only label the song,
        # so a bad tag block must not cost the file its place in the library.
        log.warning("unreadable tags in %s: %s", path, err)
        audio = None

    tags = getattr(audio, "tags", None) if audio is not None else None
    info = getattr(audio, "info", None)
    length = getattr(info, "length", None)
    duration_s = float(length) if isinstance(length, int | float) and length > 0 else None
    return Tags(
        title=_first(tags, "title") or _title_from_name(path),
        artist=_first(tags, "artist"),
        album=_first(tags, "album"),
        duration_s=duration_s,
    )


def _first(tags: Mapping[str, Any] | None, key: str) -> str | None:
    """First non-empty value of ``key``, stripped; ``None`` if absent or unreadable.

    ``tags`` is a mutagen tag block (easy ID3, Vorbis comments, MP4 atoms): mapping-like, with
    values that are lists of strings for well-formed files and anything for broken ones.
    """
    if tags is None:
        return None
    try:
        values = tags.get(key)
    except Exception:  # noqa: BLE001 - same reason as in read_tags: tags are optional
        return None
    if values is None:
        return None
    if isinstance(values, str | bytes):
        values = [values]
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        text = str(value).strip()
        if text:
            return text
    return None


def _title_from_name(path: Path) -> str:
    """A readable title from a file name: ``my_song.mp3`` -> ``my song``."""
    title = " ".join(path.stem.replace("_", " ").split())
    return title or path.name
