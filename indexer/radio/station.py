"""The radio: follow the player, judge each song left, keep the queue filled.

Each time MPD reports a change, `Radio.refresh` reads the player. A new current song means the
previous one was left; how far in (the last position read, plus the time since when it was
playing) tells a skip from a like (`listening.judge`). Then the queue is topped up to ``queue``
songs after the current one with `picker.pick_songs`. Library songs and MPD's songs meet by
path: MPD's name for a song is its path relative to MPD's music directory, which Soundalike
sees as ``music_dir``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from db.models import Song
from indexer.errors import IndexerError, NotFoundError
from indexer.library import Library
from indexer.radio.listening import Listening, Verdict
from indexer.radio.picker import Pick, pick_songs
from indexer.radio.player import MpdPlayer, PlayerStatus
from indexer.recommend.candidates import NEGATIVE_WEIGHT


class MusicDirError(IndexerError):
    """MPD's music directory is unknown and could not be inferred."""


def infer_music_dir(paths: Iterable[str], uri: str) -> Path | None:
    """The folder that holds ``uri`` (an MPD path) among library ``paths``, if exactly one does."""
    tail = "/" + PurePosixPath(uri).as_posix()
    roots = {path[: -len(tail)] for path in paths if Path(path).as_posix().endswith(tail)}
    return Path(roots.pop()) if len(roots) == 1 else None


@dataclass(frozen=True)
class Event:
    """Something the radio did or noticed, for its report."""

    kind: str  # "liked", "skipped", "left", "queued", "dry"
    song: Song | None
    text: str
    pick: Pick | None = None


class Radio:
    """Keeps at least ``queue`` songs after the current one, steered by skips and likes."""

    def __init__(
        self,
        library: Library,
        player: MpdPlayer,
        *,
        music_dir: Path | None = None,
        queue: int = 5,
        repeat_window: int = 50,
        max_per_artist: int | None = None,
        negative_weight: float = NEGATIVE_WEIGHT,
        report: Callable[[Event], None] = lambda event: None,
    ) -> None:
        self.library = library
        self.player = player
        self.music_dir = Path(os.path.abspath(music_dir)) if music_dir else None
        self.queue = queue
        self.max_per_artist = max_per_artist
        self.negative_weight = negative_weight
        self.report = report
        self.listening = Listening(repeat_window=repeat_window)
        self._ids: dict[str, int | None] = {}
        self._current: tuple[str, int | None] | None = None  # (MPD's song id, library id)
        self._position = (0.0, 0.0, False)  # elapsed, clock when read, playing
        self._duration_s: float | None = None
        self._unknown: set[str] = set()

    # --- paths ---------------------------------------------------------------------------

    def _find_music_dir(self, uri: str) -> None:
        if self.music_dir is not None:
            return
        told = self.player.music_directory()
        if told and Path(told, uri).is_file():
            self.music_dir = Path(os.path.abspath(told))
            return
        found = infer_music_dir(self.library.file_states(), uri)
        if found is None:
            raise MusicDirError(
                f"cannot tell where MPD's music directory is: no library song ends with {uri!r};"
                " pass --music-dir"
            )
        self.music_dir = found

    def song_id(self, uri: str) -> int | None:
        """The library id of MPD's song ``uri``; None when the library does not have it."""
        if uri not in self._ids:
            self._find_music_dir(uri)
            assert self.music_dir is not None
            try:
                self._ids[uri] = self.library.resolve_song(str(self.music_dir / uri)).id
            except NotFoundError:
                self._ids[uri] = None
        return self._ids[uri]

    def uri(self, song: Song) -> str | None:
        """MPD's name for a library song; None when it lies outside MPD's music directory."""
        if self.music_dir is None:
            return None
        path = Path(os.path.abspath(song.path))
        if not path.is_relative_to(self.music_dir):
            return None
        return path.relative_to(self.music_dir).as_posix()

    def _playable(self, song: Song) -> bool:
        uri = self.uri(song)
        return uri is not None and uri not in self._unknown

    # --- following the player ------------------------------------------------------------

    def refresh(self) -> list[Event]:
        """Read the player, judge a song just left, top the queue up; what happened."""
        status = self.player.status()
        events = self._follow(status)
        events += self._fill(status)
        for event in events:
            self.report(event)
        return events

    def _follow(self, status: PlayerStatus) -> list[Event]:
        now = time.monotonic()
        events: list[Event] = []
        current = status.song_id if status.uri is not None else None
        previous = self._current
        if previous is not None and previous[0] != current:
            elapsed, read_at, playing = self._position
            if playing:
                # The change happened when the new song started, not when it was read: this
                # read may come late (a busy machine, a choice being made meanwhile).
                changed_at = now - (status.elapsed_s if status.state == "play" else 0.0)
                elapsed += max(0.0, changed_at - read_at)
            if previous[1] is not None:
                events.append(self._leave(previous[1], elapsed))
            self._current = None
        if current is not None and status.uri is not None and self._current is None:
            self._current = (current, self.song_id(status.uri))
            if self._current[1] is not None:
                self.listening.start(self._current[1])
        self._duration_s = status.duration_s
        self._position = (status.elapsed_s, now, status.state == "play")
        return events

    def _leave(self, song_id: int, elapsed_s: float) -> Event:
        verdict = self.listening.leave(song_id, elapsed_s=elapsed_s, duration_s=self._duration_s)
        song = self.library.get_songs([song_id]).get(song_id)
        name = _name(song) if song else f"song {song_id}"
        at = _clock(elapsed_s)
        if verdict is Verdict.SKIPPED:
            text = f"skipped {name} at {at}: steering away from it for this session"
        elif verdict is Verdict.LIKED:
            text = f"liked {name}: played to the end, the radio stays near it"
        else:
            text = f"left {name} at {at}"
        return Event(verdict.value, song, text)

    def _fill(self, status: PlayerStatus) -> list[Event]:
        missing = self.queue - len(status.upcoming)
        if missing <= 0:
            return []
        current = self._current[1] if self._current else None
        queued = [i for uri in status.upcoming if (i := self.song_id(uri)) is not None]
        if current is None and not queued and not self.listening.played:
            return []  # nothing to start from: wait for the listener to play something
        events: list[Event] = []
        while missing > 0:
            picks = pick_songs(
                self.library,
                self.listening,
                current=current,
                queued=queued,
                count=missing,
                max_per_artist=self.max_per_artist,
                negative_weight=self.negative_weight,
                playable=self._playable,
            )
            if not picks:
                events.append(Event("dry", None, "no other song of the library can be queued"))
                break
            for pick in picks:
                uri = self.uri(pick.song)
                assert uri is not None
                if not self.player.add(uri):
                    self._unknown.add(uri)  # in the library but not in MPD's database
                    continue
                self._ids[uri] = pick.song.id
                queued.append(pick.song.id)
                missing -= 1
                events.append(Event("queued", pick.song, _why(pick), pick))
        return events

    def run(self, *, stop: Callable[[], bool] = lambda: False) -> None:
        """Follow the player until ``stop`` answers True (checked after each change)."""
        self.refresh()
        while not stop():
            self.player.wait()
            if not stop():
                self.refresh()


def _name(song: Song) -> str:
    return f"{song.artist} - {song.title}" if song.artist else song.title


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def _names(songs: list[Song], limit: int = 3) -> str:
    shown = ", ".join(_name(s) for s in songs[:limit])
    return shown + (f" and {len(songs) - limit} more" if len(songs) > limit else "")


def _why(pick: Pick) -> str:
    text = f"queued {_name(pick.song)} (cosine {pick.score:.3f}): near {_names(pick.seeds)}"
    if pick.avoided:
        text += f"; away from {_names(pick.avoided)}"
    if pick.repeat:
        text += "; the library is spent, so a song played a while ago comes back"
    return text
