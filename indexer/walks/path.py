"""A walk from one song to another through the library, each step nearer the goal.

The algorithm (``find_path``):

1. Take the unit vectors ``a`` and ``b`` of the two songs and place ``steps - 1`` waypoints
   evenly along the great circle between them (spherical interpolation: the vectors are unit
   length, so the arc, not the straight chord, is the line through the metric).
2. For each waypoint in turn, gather the nearest songs of the waypoint and of the previous
   step, and keep those that are unused, strictly more similar to ``b`` than the previous step,
   and, with a direction, have a tempo between the previous step's and ``b``'s.
3. Of those, take the one with the highest cosine to the waypoint plus cosine to the previous
   step: near the line, and a small move from where the walk is. A waypoint with no such song is
   skipped, so the path may be shorter than asked.
4. End with ``b``.

What this guarantees, and the tests check: the path starts at ``a``, ends at ``b``, repeats no
song, has at most ``steps + 1`` songs, its similarity to ``b`` never falls (it rises at every
step before the last), and with ``tempo_falling`` (``tempo_rising``) the tempo never rises
(falls). A direction the goal itself breaks (a faster ``b`` for ``tempo_falling``) is
unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from db.models import Song
from indexer.errors import NotFoundError, ParameterError, UnreachableError
from indexer.library import Library
from indexer.model.spaces import DEFAULT_SPACE
from indexer.vectors.index import VectorIndex
from indexer.walks.gather import Track, neighbours, smoothness, tracks

TEMPO_FALLING = "tempo_falling"
TEMPO_RISING = "tempo_rising"
DIRECTIONS = (TEMPO_FALLING, TEMPO_RISING)

# Candidates per query (waypoint and previous step): enough for a choice, cheap to score.
CANDIDATES = 32


@dataclass(frozen=True)
class PathStep:
    """One song of a path and how it relates to its neighbours in the walk."""

    song: Song
    tempo_bpm: float
    similarity_to_previous: float | None
    similarity_to_goal: float
    similarity_to_start: float


@dataclass(frozen=True)
class SongPath:
    """The songs from start to goal; smoothness is the mean cosine of consecutive songs."""

    steps: list[PathStep]
    smoothness: float | None


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The unit vector a fraction ``t`` of the way along the great circle from ``a`` to ``b``."""
    omega = float(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0)))
    if omega < 1e-6:
        return a
    if np.pi - omega < 1e-6:
        # Opposite vectors have no single great circle: fall back to the normalized chord.
        mid = (1 - t) * a + t * b
        norm = float(np.linalg.norm(mid))
        return mid / norm if norm > 1e-9 else a
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def find_path(
    library: Library,
    start_id: int,
    end_id: int,
    *,
    steps: int,
    direction: str | None = None,
    index: VectorIndex | None = None,
    space: str = DEFAULT_SPACE,
) -> SongPath:
    """Walk from ``start_id`` to ``end_id`` in at most ``steps`` moves (see the module doc)."""
    if steps < 1:
        raise ParameterError("steps must be at least 1")
    if direction is not None and direction not in DIRECTIONS:
        raise ParameterError(f"direction must be one of {', '.join(DIRECTIONS)}")
    if index is None:
        index, _ = library.load_index(space=space)
    found = {t.song.id: t for t in tracks(library, index, [start_id, end_id], space=space)}
    for song_id in (start_id, end_id):
        if song_id not in found:
            raise NotFoundError(f"no song with id {song_id}")
    start, goal = found[start_id], found[end_id]
    _check_direction(start, goal, direction)
    if start_id == end_id:
        return SongPath([_step(start, None, start, goal)], None)

    walk = [start]
    used = {start_id, end_id}
    for i in range(1, steps):
        waypoint = slerp(start.vector, goal.vector, i / steps)
        previous = walk[-1]
        floor = previous.similarity(goal.vector)
        candidates = [
            c
            for c in neighbours(
                library,
                index,
                [waypoint, previous.vector],
                k=CANDIDATES,
                exclude=used,
                space=space,
            )
            if c.similarity(goal.vector) > floor and _keeps_direction(previous, c, goal, direction)
        ]
        if not candidates:
            continue
        best = max(candidates, key=lambda c: c.similarity(waypoint) + c.similarity(previous.vector))
        walk.append(best)
        used.add(best.song.id)
    walk.append(goal)
    path = [_step(start, None, start, goal)]
    path += [_step(track, prev, start, goal) for prev, track in zip(walk, walk[1:], strict=False)]
    return SongPath(path, smoothness([t.vector for t in walk]))


def _step(track: Track, previous: Track | None, start: Track, goal: Track) -> PathStep:
    return PathStep(
        song=track.song,
        tempo_bpm=track.tempo_bpm,
        similarity_to_previous=None if previous is None else track.similarity(previous.vector),
        similarity_to_goal=track.similarity(goal.vector),
        similarity_to_start=track.similarity(start.vector),
    )


def _check_direction(start: Track, goal: Track, direction: str | None) -> None:
    if direction == TEMPO_FALLING and goal.tempo_bpm > start.tempo_bpm:
        raise UnreachableError(
            f"no path with falling tempo: song {goal.song.id} ({goal.tempo_bpm:.1f} BPM) is "
            f"faster than song {start.song.id} ({start.tempo_bpm:.1f} BPM)"
        )
    if direction == TEMPO_RISING and goal.tempo_bpm < start.tempo_bpm:
        raise UnreachableError(
            f"no path with rising tempo: song {goal.song.id} ({goal.tempo_bpm:.1f} BPM) is "
            f"slower than song {start.song.id} ({start.tempo_bpm:.1f} BPM)"
        )


def _keeps_direction(previous: Track, candidate: Track, goal: Track, direction: str | None) -> bool:
    # Between the previous step and the goal, so the final move to the goal keeps it too.
    tempo = candidate.tempo_bpm
    if direction == TEMPO_FALLING:
        return goal.tempo_bpm <= tempo <= previous.tempo_bpm
    if direction == TEMPO_RISING:
        return previous.tempo_bpm <= tempo <= goal.tempo_bpm
    return True
