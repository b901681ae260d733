"""Walks through the library: ``GET /api/path`` from one song to another."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from indexer.walks.path import PathStep, find_path
from service.api_blueprint import Blueprint
from service.schemas import walks as walk_schemas
from service.songs import check_song_ids
from service.state import state

bp = Blueprint("paths", __name__, url_prefix="/api")


def step_json(step: PathStep) -> dict[str, Any]:
    """`walk_schemas.PathStep`: a song of a path, its tempo, its cosines to previous and goal."""
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
@bp.arguments(walk_schemas.PathQuery(), location="query")
@bp.response(200, walk_schemas.SongPath)
@bp.fails_with(404)
def song_path(query: dict[str, Any]) -> Response:
    """A walk from ``from`` to ``to``, each song more similar to ``to`` than the one before.

    A 404 names an unknown song, or a ``direction`` no walk can keep.
    """
    start, end, steps = query["start"], query["end"], query["steps"]
    direction = query.get("direction")
    check_song_ids([start, end])
    st = state()
    choice = st.choose_space(query.get("space"), seeds=[start, end])
    space = choice.space
    index, _ = st.index(space)
    path = find_path(
        st.library, start, end, steps=steps, direction=direction, index=index, space=space
    )
    smooth = None if path.smoothness is None else round(path.smoothness, 6)
    return jsonify(
        {
            "from": start,
            "to": end,
            "steps": steps,
            "direction": direction,
            **choice.json(),
            "smoothness": smooth,
            "path": [step_json(s) for s in path.steps],
        }
    )
