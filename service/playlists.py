"""Playlists over HTTP: ``POST /api/playlists`` answers a playlist as JSON or as M3U8.

The playlist is `indexer.walks.playlist`'s, as ``soundalike playlist`` builds it; the M3U8 is
`indexer.walks.m3u`'s text with the songs' audio URLs as locations, so a player opens it
wherever the service can be reached. The route only reads, so it needs no admin token, like
``POST /api/similar``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from indexer.walks.m3u import m3u8_entries
from indexer.walks.playlist import PlaylistEntry, build_playlist
from service.api_blueprint import Blueprint
from service.schemas import walks as walk_schemas
from service.songs import check_song_ids
from service.state import state

bp = Blueprint("playlists", __name__, url_prefix="/api")

M3U8_TYPE = "audio/x-mpegurl"
# Names players and servers use for the same thing; any of them in Accept asks for M3U8.
M3U8_TYPES = (M3U8_TYPE, "audio/mpegurl", "application/vnd.apple.mpegurl")

_M3U8 = {
    "description": "the playlist: JSON, or M3U8 with ?format=m3u8 or Accept: audio/x-mpegurl",
    "content": {M3U8_TYPE: {"schema": {"type": "string"}}},
}


def entry_json(entry: PlaylistEntry) -> dict[str, Any]:
    """`walk_schemas.PlaylistSong`."""
    song = entry.song
    previous = entry.similarity_to_previous
    return {
        "id": song.id,
        "title": song.title,
        "artist": song.artist,
        "album": song.album,
        "duration_s": round(song.duration_s, 3),
        "audio_url": f"/api/songs/{song.id}/audio",
        "seed": entry.seed,
        "similarity_to_previous": None if previous is None else round(previous, 6),
        "similarity_to_seeds": round(entry.similarity_to_seeds, 6),
    }


def wants_m3u8(asked: str | None) -> bool:
    """Whether to answer M3U8: ``format`` decides, else the Accept header's best match."""
    if asked is not None:
        return asked == "m3u8"
    best = request.accept_mimetypes.best_match(["application/json", *M3U8_TYPES])
    return best in M3U8_TYPES


@bp.post("/playlists")
@bp.arguments(walk_schemas.PlaylistFormat(), location="query")
@bp.arguments(walk_schemas.PlaylistRequest(), location="json")
@bp.response(200, walk_schemas.Playlist)
@bp.doc(responses={200: _M3U8})
@bp.fails_with(404)
def make_playlist(query: dict[str, Any], body: dict[str, Any]) -> Response:
    """A playlist that opens with the seeds and moves on in small steps, away from ``not``.

    Seeds count towards ``length`` and towards the artist cap (more seeds than ``length``: the
    first ``length`` of them). A 404 names an unknown song.
    """
    seeds: list[int] = list(dict.fromkeys(body["seeds"]))
    negatives: list[int] = body.get("negatives", [])
    length: int = body["length"]
    check_song_ids([*seeds, *negatives])
    st = state()
    choice = st.choose_space(body.get("space"), seeds=[*seeds, *negatives])
    index, _ = st.index(choice.space)
    playlist = build_playlist(
        st.library,
        seeds,
        length=length,
        max_per_artist=body.get("max_per_artist"),
        negatives=negatives,
        negative_weight=body["not_weight"],
        index=index,
        space=choice.space,
    )
    if wants_m3u8(query.get("format")):
        songs = [entry.song for entry in playlist.entries]
        urls = [url_for("songs.song_audio", song_id=s.id, _external=True) for s in songs]
        response = Response(m3u8_entries(songs, urls), mimetype=M3U8_TYPE)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="soundalike-{seeds[0]}.m3u8"'
        )
        return response
    smooth = None if playlist.smoothness is None else round(playlist.smoothness, 6)
    return jsonify(
        {
            "seeds": seeds,
            "not": negatives,
            "length": length,
            "max_per_artist": body.get("max_per_artist"),
            **choice.json(),
            "smoothness": smooth,
            "songs": [entry_json(e) for e in playlist.entries],
        }
    )
