"""What a listener did, told apart without any I/O: skipped, liked, or left after a while.

The radio hears only that the player moved from one song to another and how far into the old
song it was. That is enough to read intent: leaving a song within its first `SKIP_WINDOW_S`
seconds is a skip, a rejection that steers the radio away from that song for the rest of the
session (a negative seed); reaching its end is a like, a positive seed; leaving it later is
neither. `Listening` keeps the session's memory and answers what the next choice should be near,
what it should be far from and what it must not repeat. It knows song ids only, so it can be
tested with plain numbers, and the player and the library stay outside it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

# Leaving a song this early is a skip (the "first 30 s").
SKIP_WINDOW_S = 30.0
# A song counts as played to its end when the player left it this close to its duration:
# the player's position is sampled, not exact, and a track's last second is often silence.
END_MARGIN_S = 1.5
# Recent songs the next choice stays near, besides the liked ones.
CONTEXT_SONGS = 3
# Liked songs kept as seeds, the most recent first; older likes stop pulling.
LIKED_SEEDS = 10
# Skipped songs kept as negative seeds (the neighbour query takes at most 100 ids per list).
SKIPPED_SEEDS = 100


class Verdict(Enum):
    """How a song was left."""

    SKIPPED = "skipped"
    LIKED = "liked"
    LEFT = "left"


def judge(*, elapsed_s: float, duration_s: float | None) -> Verdict:
    """How a song left at ``elapsed_s`` seconds was received.

    A song of unknown duration (a stream) is never liked; one shorter than the skip window is
    skipped only when left before its end.
    """
    if duration_s is not None and duration_s > 0 and elapsed_s >= duration_s - END_MARGIN_S:
        return Verdict.LIKED
    if elapsed_s < SKIP_WINDOW_S:
        return Verdict.SKIPPED
    return Verdict.LEFT


@dataclass
class Listening:
    """One radio session's memory: songs played (a bounded window), liked and skipped.

    ``repeat_window`` is how many of the last played songs may not come back.
    """

    repeat_window: int = 50
    played: deque[int] = field(init=False)
    liked: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.repeat_window < 1:
            raise ValueError("repeat_window must be at least 1")
        self.played = deque(maxlen=self.repeat_window)

    def start(self, song_id: int) -> None:
        """A song began playing."""
        if not self.played or self.played[-1] != song_id:
            self.played.append(song_id)

    def leave(self, song_id: int, *, elapsed_s: float, duration_s: float | None) -> Verdict:
        """The player left a song ``elapsed_s`` seconds in; remember and return the verdict."""
        verdict = judge(elapsed_s=elapsed_s, duration_s=duration_s)
        if verdict is Verdict.SKIPPED:
            _remember(self.skipped, song_id, SKIPPED_SEEDS)
            if song_id in self.liked:
                self.liked.remove(song_id)
        elif verdict is Verdict.LIKED:
            _remember(self.liked, song_id, LIKED_SEEDS)
            if song_id in self.skipped:
                self.skipped.remove(song_id)
        return verdict

    def seeds(self, current: int | None) -> list[int]:
        """What the next songs should sound like: the current song, recent songs, liked songs.

        Skipped songs are never seeds. With nothing played yet, only the current song.
        """
        recent = [i for i in reversed(self.played) if i not in self.skipped][:CONTEXT_SONGS]
        ordered = [current] if current is not None else []
        ordered += [*recent, *reversed(self.liked)]
        rejected = set(self.skipped)
        return [i for i in dict.fromkeys(ordered) if i == current or i not in rejected]

    def negatives(self, current: int | None) -> list[int]:
        """What the next songs should not sound like: the session's skipped songs."""
        return [i for i in reversed(self.skipped) if i != current]

    def recent(self) -> set[int]:
        """Songs that may not be queued again yet: the repeat window."""
        return set(self.played)


def _remember(items: list[int], song_id: int, limit: int) -> None:
    if song_id in items:
        items.remove(song_id)
    items.append(song_id)
    del items[:-limit]
