"""JSON API for walks through the library: ``GET /api/path`` from one song to another."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from indexer.walks.path import DIRECTIONS, PathStep, find_path
from service.api import MAX_SONG_ID
from service.errors import ApiError
from service.query_args import int_arg, int_arg_or_none
from service.state import state

bp = Blueprint("paths_api", __name__, url_prefix="/api")

MAX_STEPS = 100


def required_song_id(name: str) -> int:
    """A song id query parameter that must be present: 400 when absent or malformed."""
    value = int_arg_or_none(name, low=0, high=None)
    if value is None:
        raise ApiError(400, "bad_parameter", f"{name} is required (a song id)")
    if value > MAX_SONG_ID:
        # No such id can exist (ids are 32-bit in PostgreSQL): unknown, not malformed.
        raise ApiError(404, "not_found", f"no song with id {value}")
    return value


def step_json(step: PathStep) -> dict[str, Any]:
    """One song of a path with its tempo and its cosines to the previous song and the goal."""
    song = step.song
    previous = step.similarity_to_previous
    return {
        "id": song.id,
        "title": song.title,
        "artist": song.artist,
        "album": song.album,
        "duration_s": round(song.duration_s, 3),
        "tempo_bpm": round(step.tempo_bpm, 3),
        "similarity_to_previous": None if previous is None else round(previous, 6),
        "similarity_to_goal": round(step.similarity_to_goal, 6),
    }


@bp.get("/path")
def song_path():  # type: ignore[no-untyped-def]
    """A walk from ``from`` to ``to``, each song more similar to ``to`` than the one before."""
    start = required_song_id("from")
    end = required_song_id("to")
    steps = int_arg("steps", default=10, low=1, high=MAX_STEPS)
    direction = request.args.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise ApiError(400, "bad_parameter", f"direction must be one of {', '.join(DIRECTIONS)}")
    st = state()
    index, _ = st.index()
    path = find_path(st.library, start, end, steps=steps, direction=direction, index=index)
    smooth = None if path.smoothness is None else round(path.smoothness, 6)
    return jsonify(
        {
            "from": start,
            "to": end,
            "steps": steps,
            "direction": direction,
            "smoothness": smooth,
            "path": [step_json(s) for s in path.steps],
        }
    )
