"""JSON API: songs, nearest neighbours, similarity for an uploaded clip, health."""

from __future__ import annotations

import hmac
import os
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import numpy as np
from flask import Blueprint, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from db import repo
from db.models import Song
from db.repo import SongRow
from indexer.decode import Decoded, decode_window
from indexer.duplicates import SongTraits
from indexer.explain import explain
from indexer.features import SR, extract_features
from indexer.library import Neighbour
from indexer.pipeline import index_paths
from indexer.recommend.candidates import Context, Recommendation, recommend, traits
from indexer.rerank import Anchor
from indexer.scan import expand_paths
from service.cursor import decode as decode_cursor
from service.cursor import encode as encode_cursor
from service.errors import ApiError
from service.query_args import (
    bool_arg,
    dropped_json,
    explanation_json,
    int_arg,
    rerank_options,
)
from service.state import state

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_K = 100
MAX_LIMIT = 500
# Upload analysis runs here so a request can give up on it after upload_timeout_s; the thread
# finishes in the background, and the small pool bounds how many can pile up per process.
_analysis_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload-analysis")

# Ids are 32-bit integers in PostgreSQL; larger ones cannot exist and would overflow the query.
MAX_SONG_ID = 2**31 - 1


@bp.url_value_preprocessor
def _check_ids(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and values.get("song_id", 0) > MAX_SONG_ID:
        raise ApiError(404, "not_found", f"no song with id {values['song_id']}")


def genre_json(song: Song | SongRow, *, full: bool) -> dict[str, Any]:
    """A song's genre label, its probability and top 3 (and all probabilities when ``full``).

    ``label`` is ``"uncertain"`` when the top probability is below the model's threshold; ``top``
    then names the candidates.
    """
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


def top_genres(probabilities: dict[str, float], n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` most probable genres, best first."""
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])[:n]
    return [{"label": label, "probability": p} for label, p in ranked]


def song_json(song: Song | SongRow) -> dict[str, Any]:
    """The public view of a song (never its path on the server)."""
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
    }


def neighbour_json(neighbour: Neighbour) -> dict[str, Any]:
    """A neighbour with its cosine score."""
    song = neighbour.song
    return {
        "id": song.id,
        "title": song.title,
        "artist": song.artist,
        "album": song.album,
        "score": round(neighbour.score, 6),
        "genre": genre_json(song, full=False),
    }


@bp.get("/health")
def health():  # type: ignore[no-untyped-def]
    """Liveness plus what is loaded: songs in the database, vectors in the index."""
    st = state()
    index, manifest = st.index()
    with st.library.session() as session:
        songs = repo.count_songs(session)
    return jsonify(
        {
            "status": "ok",
            "songs": songs,
            "indexed": len(index),
            "index_generation": manifest.generation,
            "model_version": st.library.genre_model.version,
        }
    )


@bp.get("/songs")
def list_songs():  # type: ignore[no-untyped-def]
    """Songs matching ``q`` in title, artist or album, by artist and title, paginated.

    Two ways to page: ``offset`` (simple, but deep offsets walk past every skipped row) or
    ``cursor``, the ``next_cursor`` of the previous page (an index seek however deep).
    """
    limit = int_arg("limit", default=50, low=1, high=MAX_LIMIT)
    offset = int_arg("offset", default=0, low=0, high=10**9)
    cursor = request.args.get("cursor")
    q = (request.args.get("q") or "").strip() or None
    if q is not None and "\x00" in q:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        raise ApiError(400, "bad_parameter", "q must not contain NUL characters")
    if cursor and offset:
        raise ApiError(400, "bad_parameter", "use either cursor or offset, not both")
    with state().library.session() as session:
        if cursor:
            items = repo.list_songs_page(session, q=q, limit=limit, after=decode_cursor(cursor))
            total = repo.count_matching(session, q=q)
        else:
            items, total = repo.search_songs(session, q=q, limit=limit, offset=offset)
    last = items[-1] if len(items) == limit else None
    return jsonify(
        {
            "items": [song_json(s) for s in items],
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_cursor": (
                encode_cursor(repo.ListingKey(last.artist, last.title, last.id)) if last else None
            ),
        }
    )


@bp.get("/songs/<int:song_id>")
def get_song(song_id: int):  # type: ignore[no-untyped-def]
    """One song."""
    with state().library.session() as session:
        song = repo.get_song(session, song_id)
    if song is None:
        raise ApiError(404, "not_found", f"no song with id {song_id}")
    return jsonify(song_json(song))


def context() -> Context:
    """The library, the live index and its hub cache, for one request."""
    st = state()
    index, manifest = st.index()
    return Context(st.library, index, generation=manifest.generation, hubs=st.hubs)


def neighbours_payload(
    result: Recommendation, *, query_raw: np.ndarray | None = None
) -> dict[str, Any]:
    """``neighbours`` (explained against ``query_raw`` when ``explain=true``) and, with
    ``explain_drops=true``, what re-ranking ``dropped``."""
    items = [neighbour_json(n) for n in result.neighbours]
    if bool_arg("explain") and query_raw is not None and result.neighbours:
        raw = np.vstack([n.song.feature_vector for n in result.neighbours])
        for item, why in zip(items, explain(state().library.scaler, query_raw, raw), strict=True):
            item["explanation"] = explanation_json(why)
    payload: dict[str, Any] = {"neighbours": items}
    if bool_arg("explain_drops"):
        payload["dropped"] = dropped_json(result.dropped)
    return payload


@bp.get("/songs/<int:song_id>/similar")
def similar_songs(song_id: int):  # type: ignore[no-untyped-def]
    """The ``k`` nearest songs by cosine, the song itself excluded, re-ranked as asked."""
    k = int_arg("k", default=10, low=1, high=MAX_K)
    options = rerank_options()
    ctx = context()
    if not options.active:
        # The plain query, the service's hot path: the song and its neighbours in one read.
        song, neighbours = ctx.library.similar_to_song(song_id, k=k, index=ctx.index)
        payload = neighbours_payload(Recommendation(neighbours, []), query_raw=song.feature_vector)
        return jsonify({"song": song_json(song), **payload})
    with ctx.library.session() as session:
        song = repo.get_song(session, song_id)
    if song is None:
        raise ApiError(404, "not_found", f"no song with id {song_id}")
    vector = ctx.index.reconstruct(song_id)
    if vector is None:
        vector = ctx.library.vectors(song.feature_vector)[0]
    result = recommend(
        ctx,
        vector,
        k=k,
        options=options,
        anchors=[Anchor(song.id, vector, traits(song))],
        skip=frozenset({song_id}),
    )
    payload = neighbours_payload(result, query_raw=song.feature_vector)
    return jsonify({"song": song_json(song), **payload})


@bp.get("/model")
def model_info():  # type: ignore[no-untyped-def]
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


@bp.get("/songs/<int:song_id>/audio")
def song_audio(song_id: int):  # type: ignore[no-untyped-def]
    """The song's file, with range requests so players can seek; only library songs."""
    with state().library.session() as session:
        song = repo.get_song(session, song_id)
    if song is None:
        raise ApiError(404, "not_found", f"no song with id {song_id}")
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


@bp.post("/similar")
def similar_upload():  # type: ignore[no-untyped-def]
    """Genre and nearest songs for an uploaded clip (multipart field ``file``)."""
    k = int_arg("k", default=10, low=1, high=MAX_K)
    options = rerank_options()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "missing_file", "send the audio as a multipart field named 'file'")
    st = state()
    suffix = Path(upload.filename).suffix.lower()[:8]
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        upload.save(tmp)
        tmp.flush()
        future = _analysis_pool.submit(
            _analyse_upload,
            Path(tmp.name),
            window_s=st.settings.window_s,
            max_duration_s=st.settings.max_upload_duration_s,
        )
        try:
            raw, decoded = future.result(timeout=st.settings.upload_timeout_s)
        except FutureTimeout:
            future.cancel()
            raise ApiError(
                504,
                "analysis_timeout",
                f"analysis took over {st.settings.upload_timeout_s:g} s; send a shorter clip",
            ) from None
    prediction = st.library.genre_model.predict(raw[None, :])[0]
    vector = st.library.vectors(raw)[0]
    query = SongTraits(title=Path(upload.filename).stem, artist=None, duration_s=decoded.duration_s)
    result = recommend(
        context(), vector, k=k, options=options, anchors=[Anchor(None, vector, query)]
    )
    return jsonify(
        {
            "upload": {"filename": upload.filename, "duration_s": round(decoded.duration_s, 3)},
            "genre": {
                "label": prediction.label,
                "confidence": prediction.confidence,
                "probability": prediction.confidence,
                "top": [{"label": label, "probability": p} for label, p in prediction.top],
                "probabilities": prediction.probabilities,
            },
            **neighbours_payload(result, query_raw=raw),
        }
    )


def _analyse_upload(
    path: Path, *, window_s: float, max_duration_s: float
) -> tuple[np.ndarray, Decoded]:
    """Features of an uploaded file, refusing tracks longer than ``max_duration_s``."""
    decoded = decode_window(path, sr=SR, window_s=window_s)
    if decoded.duration_s > max_duration_s:
        raise ApiError(
            413,
            "too_long",
            f"upload lasts {decoded.duration_s:.0f} s; the limit is {max_duration_s:g} s",
        )
    return extract_features(y=decoded.y, sr=decoded.sr, path=path), decoded


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


@bp.post("/songs")
def add_songs():  # type: ignore[no-untyped-def]
    """Admin: index files or folders already on the server (JSON ``{"paths": [...]}``)."""
    require_admin()
    body = request.get_json(silent=True)
    paths = body.get("paths") if isinstance(body, dict) else None
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ApiError(400, "bad_body", 'send JSON {"paths": ["/music/a.flac", ...]}')
    st = state()
    report = index_paths(st.library, expand_paths(Path(p) for p in paths), workers=1)
    st.reader.refresh()
    return jsonify(
        {
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
            "index_generation": report.manifest.generation if report.manifest else None,
        }
    )


@bp.delete("/songs/<int:song_id>")
def delete_song(song_id: int):  # type: ignore[no-untyped-def]
    """Admin: remove a song from the library (its file stays)."""
    require_admin()
    st = state()
    if not st.library.remove_songs([song_id]):
        raise ApiError(404, "not_found", f"no song with id {song_id}")
    manifest = st.library.sync_index()
    st.reader.refresh()
    return jsonify({"removed": song_id, "index_generation": manifest.generation})
