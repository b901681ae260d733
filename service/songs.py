"""Songs: list and search, one song, its audio, adding and removing; health and the model."""

from __future__ import annotations

import functools
import hmac
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import Response, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from db.models import Song
from db.repo import ListingKey, SongRow
from indexer.errors import NotFoundError
from indexer.ingest.pipeline import index_paths
from indexer.ingest.scan import expand_paths, has_audio
from indexer.model.spaces import FEATURES
from indexer.model.tags import top_tags
from indexer.vectors.store import Manifest
from service.api_blueprint import Blueprint
from service.cursor import decode as decode_cursor
from service.cursor import encode as encode_cursor
from service.errors import ApiError
from service.query_fields import MAX_SONG_ID
from service.schemas import songs as song_schemas
from service.state import state

bp = Blueprint("songs", __name__, url_prefix="/api")

_AUDIO = {
    "description": "the file, typed by its extension (audio/ogg, audio/flac, …)",
    "content": {
        "audio/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


def song_not_found(song_id: int) -> ApiError:
    """The one 404 for an unknown song id, whichever route meets it."""
    return ApiError(404, "not_found", f"no song with id {song_id}")


def check_song_ids(ids: Iterable[int]) -> None:
    """404 for an id no song can have (ids are 32-bit in PostgreSQL): unknown, not malformed."""
    for song_id in ids:
        if song_id > MAX_SONG_ID:
            raise song_not_found(song_id)


def check_song_id(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    """404 for a song id in the path that no song can have."""
    if values and "song_id" in values:
        check_song_ids([values["song_id"]])


bp.url_value_preprocessor(check_song_id)


def get_song_or_404(song_id: int) -> Song:
    """The song with this id; `ApiError` 404 when there is none."""
    check_song_ids([song_id])
    try:
        return state().library.get_song(song_id)
    except NotFoundError:
        raise song_not_found(song_id) from None


def top_genres(probabilities: dict[str, float], n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` most probable genres, best first."""
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])[:n]
    return [{"label": label, "probability": p} for label, p in ranked]


def genre_json(song: Song | SongRow, *, full: bool) -> dict[str, Any]:
    """`song_schemas.Genre` (``full``) or `song_schemas.NeighbourGenre` of a song."""
    probabilities = song.genre_probabilities or {}
    genre: dict[str, Any] = {
        "label": song.genre,
        "confidence": song.genre_confidence,
        "probability": song.genre_confidence,
        "top": top_genres(probabilities),
    }
    if full:
        genre["probabilities"] = probabilities
    return genre


def tags_json(song: Song | SongRow) -> list[dict[str, Any]]:
    """`song_schemas.Tag` list: a song's top tags, best first; empty until the network has run."""
    return [{"tag": t.tag, "probability": t.probability} for t in top_tags(song.tag_vector)]


def song_json(song: Song | SongRow) -> dict[str, Any]:
    """`song_schemas.Song`: the public view of a song (never its path on the server)."""
    return {
        "id": song.id,
        "title": song.title,
        "artist": song.artist,
        "album": song.album,
        "duration_s": round(song.duration_s, 3),
        "filename": Path(song.path).name,
        "genre": genre_json(song, full=True),
        "model_version": song.model_version,
        "audio_url": f"/api/songs/{song.id}/audio",
        "tags": tags_json(song),
    }


@bp.get("/health")
@bp.response(200, song_schemas.Health)
def health() -> Response:
    """Liveness plus what is loaded: songs in the database, vectors in the index.

    ``sound_space`` says whether every song has the network's sound description; until it is
    complete (``missing`` is 0), ``soundalike backfill`` or the next ``index`` has work to do.
    """
    st = state()
    # Indexing is measured on the features index, which holds every song (the sound index
    # leaves out clips too short for the network).
    index, manifest = st.index(FEATURES)
    songs = st.library.count_songs()
    return jsonify(
        {
            "status": "ok",
            "songs": songs,
            "indexed": len(index),
            "index_generation": manifest.generation,
            "model_version": st.library.genre_model.version,
            "sound_space": st.library.sound_space(),
        }
    )


@bp.get("/songs")
@bp.arguments(song_schemas.SongListQuery(), location="query")
@bp.response(200, song_schemas.SongPage)
def list_songs(query: dict[str, Any]) -> Response:
    """Songs matching ``q`` in title, artist or album, by artist and title, paginated.

    Two ways to page: ``offset`` (simple, but deep offsets walk past every skipped row) or
    ``cursor``, the ``next_cursor`` of the previous page (an index seek however deep).
    """
    q, cursor = query.get("q"), query.get("cursor")
    limit, offset = query["limit"], query["offset"]
    library = state().library
    if cursor:
        items, total = library.list_songs_page(q=q, limit=limit, after=decode_cursor(cursor))
    else:
        items, total = library.search_songs(q=q, limit=limit, offset=offset)
    last = items[-1] if len(items) == limit else None
    return jsonify(
        {
            "items": [song_json(s) for s in items],
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_cursor": (
                encode_cursor(ListingKey(last.artist, last.title, last.id)) if last else None
            ),
        }
    )


@bp.get("/songs/<int:song_id>")
@bp.response(200, song_schemas.Song)
@bp.fails_with(404)
def get_song(song_id: int) -> Response:
    """One song."""
    return jsonify(song_json(get_song_or_404(song_id)))


@bp.get("/songs/<int:song_id>/audio")
@bp.doc(responses={"200": _AUDIO})
@bp.fails_with(404)
def song_audio(song_id: int) -> Response:
    """The song's file, with range requests so players can seek; only library songs."""
    song = get_song_or_404(song_id)
    path = Path(song.path)
    try:
        handle = path.open("rb")
    except OSError:
        raise ApiError(404, "not_found", f"the file of song {song_id} is no longer there") from None
    # Serve only the file that was indexed: a path swapped since (say, a symlink now pointing
    # at a secret) has another size or mtime, and is refused until it is indexed again.
    info = os.fstat(handle.fileno())
    if (
        not stat.S_ISREG(info.st_mode)
        or info.st_size != song.size_bytes
        or info.st_mtime_ns != song.mtime_ns
    ):
        handle.close()
        raise ApiError(404, "not_found", f"the file of song {song_id} changed; index it again")
    response = send_file(
        handle,
        download_name=path.name,
        etag=f"{song.id}-{song.size_bytes}-{song.mtime_ns}",
        last_modified=info.st_mtime,
    )
    # send_file knows no length for an open file, so ranges are enabled here with the checked one.
    try:
        return response.make_conditional(
            request.environ, accept_ranges=True, complete_length=info.st_size
        )
    except HTTPException:
        response.close()
        raise


@bp.get("/model")
@bp.response(200, song_schemas.Model)
def model_info() -> Response:
    """The genre model's version and measured scores, and the neighbour metric in use."""
    library = state().library
    model = library.genre_model
    return jsonify(
        {
            "version": model.version,
            "classes": model.classes,
            "trained_at": model.trained_at,
            "table_sha256": model.table_sha256,
            "scores": model.scores,
            "temperature": model.temperature,
            "uncertain_below": model.uncertain_below,
            "metric": {"kind": library.scaler.metric, "scaler_version": library.scaler.version},
        }
    )


def require_admin() -> None:
    """Writes need ``Authorization: Bearer <SOUNDALIKE_ADMIN_TOKEN>``; none when it is unset."""
    token = state().settings.admin_token
    if not token:
        raise ApiError(403, "writes_disabled", "HTTP writes are off: set SOUNDALIKE_ADMIN_TOKEN")
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <admin token>'")
    if not hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode()):
        raise ApiError(403, "forbidden", "wrong admin token")


def admin_only(view: Callable[..., Response]) -> Callable[..., Response]:
    """Check the admin token before anything else, the body included; documented as such."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Response:
        require_admin()
        return view(*args, **kwargs)

    return bp.doc(security=[{"adminToken": []}])(bp.fails_with(401, 403)(checked))


@bp.post("/songs")
@admin_only
@bp.arguments(song_schemas.AddSongs(), location="json")
@bp.response(200, song_schemas.AddReport)
def add_songs(body: dict[str, Any]) -> Response:
    """Admin: index files or folders already on the server (JSON ``{"paths": [...]}``).

    A folder without audio files is refused (400) before anything changes, as ``soundalike
    add`` refuses it: it is more often a share that is not mounted or a typo than a request.
    """
    empty = [p for p in body["paths"] if Path(p).is_dir() and not has_audio(Path(p))]
    if empty:
        raise ApiError(
            400, "bad_body", f"no audio files found in {', '.join(empty)}; nothing was added"
        )
    st = state()
    report = index_paths(st.library, expand_paths(Path(p) for p in body["paths"]), workers=1)
    st.refresh()
    return jsonify(
        {
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
            "index_generation": _generation(report.manifests, st.answering_space(None)),
        }
    )


@bp.delete("/songs/<int:song_id>")
@admin_only
@bp.response(200, song_schemas.Removed)
@bp.fails_with(404)
def delete_song(song_id: int) -> Response:
    """Admin: remove a song from the library (its file stays)."""
    st = state()
    if not st.library.remove_songs([song_id]):
        raise song_not_found(song_id)
    manifests = st.library.sync_indexes()
    st.refresh()
    manifest = manifests[st.answering_space(None)]
    return jsonify({"removed": song_id, "index_generation": manifest.generation})


def _generation(manifests: Mapping[str, Manifest], space: str) -> int | None:
    """The generation of ``space``'s index after indexing; None when nothing was synced."""
    manifest = manifests.get(space)
    return None if manifest is None else manifest.generation
