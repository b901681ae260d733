"""Export songs as an M3U8 playlist that players open from the playlist's own folder.

Paths are written relative to the folder of the playlist file, so the library and the playlist
can move together (a music folder on another machine, a USB stick). The file is UTF-8 (the "8"
of M3U8), with the extended ``#EXTINF`` line players show: duration in whole seconds, then
"artist - title". Over HTTP the locations are the service's audio URLs instead, so a playlist
downloaded from the page plays wherever the service can be reached.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from db.models import Song


def extinf_title(song: Song) -> str:
    """The text players show: "artist - title", or the title alone, on one line."""
    text = f"{song.artist} - {song.title}" if song.artist else song.title
    return " ".join(text.split())


def m3u8_text(songs: Sequence[Song], *, folder: Path) -> str:
    """The playlist's text, each song's path relative to ``folder``."""
    folder = Path(os.path.abspath(folder))
    return m3u8_entries(
        songs, [Path(os.path.relpath(song.path, folder)).as_posix() for song in songs]
    )


def m3u8_entries(songs: Sequence[Song], locations: Sequence[str]) -> str:
    """The playlist's text with each song at its location (a relative path or a URL)."""
    lines = ["#EXTM3U"]
    for song, location in zip(songs, locations, strict=True):
        lines.append(f"#EXTINF:{round(song.duration_s)},{extinf_title(song)}")
        lines.append(location)
    return "\n".join(lines) + "\n"


def write_m3u8(songs: Sequence[Song], out: Path) -> Path:
    """Write the playlist to ``out`` (its folder is created); returns the path written."""
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(m3u8_text(songs, folder=out.parent), encoding="utf-8")
    return out
