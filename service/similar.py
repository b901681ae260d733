"""Similar songs: to one song, to an uploaded clip, to a set of seed songs.

Every route here takes the neighbour query declared in `indexer.recommend.options` (``k``,
``space``, filters, caps, diversity, explanations), and answers through
`indexer.recommend.candidates`, as ``soundalike similar`` does. Every answer names the space
that answered (``space``), with a ``space_note`` when it is not the one the query expected.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import numpy as np
from flask import Response, jsonify

from indexer.audio.analyse import describe_sound
from indexer.audio.decode import Decoded, decode_window
from indexer.audio.embedding import MIN_DURATION_S, SoundDescription
from indexer.audio.features import SR, extract_features
from indexer.library import Neighbour
from indexer.model.spaces import FEATURES, SOUND, sound_vectors
from indexer.model.tags import normalize_tags, split_tags
from indexer.recommend.candidates import (
    Context,
    Recommendation,
    explain_neighbours,
    profile_seeds,
    recommend,
    recommend_for_seeds,
    song_vector,
    traits,
)
from indexer.recommend.duplicates import SongTraits
from indexer.recommend.explain import Explanation, explain
from indexer.recommend.options import NeighbourQuery, neighbour_query
from indexer.recommend.rerank import Anchor, Dropped
from service.api_blueprint import Blueprint
from service.errors import ApiError
from service.schemas import similar as similar_schemas
from service.songs import (
    check_song_id,
    check_song_ids,
    genre_json,
    get_song_or_404,
    song_json,
    tags_json,
)
from service.state import SpaceChoice, state

bp = Blueprint("similar", __name__, url_prefix="/api")
bp.url_value_preprocessor(check_song_id)

# Upload analysis runs here so a request can give up on it after upload_timeout_s; the thread
# finishes in the background, and the small pool bounds how many can pile up per process.
_analysis_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload-analysis")


def context(space: str) -> Context:
    """The library, the live index of ``space`` and its hub cache, for one request."""
    st = state()
    index, manifest = st.index(space)
    return Context(
        st.library, index, generation=manifest.generation, hubs=st.hubs[space], space=space
    )


def neighbour_json(neighbour: Neighbour) -> dict[str, Any]:
    """`similar_schemas.Neighbour`: a neighbour with its cosine score."""
    song = neighbour.song
    return {
        "id": song.id,
        "title": song.title,
        "artist": song.artist,
        "album": song.album,
        "score": round(neighbour.score, 6),
        "genre": genre_json(song, full=False),
        "tags": tags_json(song),
    }


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    """`similar_schemas.Explanation`, unrounded, so the parts add up to ``cosine`` exactly."""
    return {
        "cosine": explanation.cosine,
        "parts": explanation.parts,
        "summary": explanation.summary,
        "shared_tags": list(explanation.shared_tags),
    }


def dropped_json(dropped: list[Dropped]) -> list[dict[str, Any]]:
    """What re-ranking left out, in the order it was decided."""
    return [{"id": d.id, "reason": d.reason, "detail": d.detail} for d in dropped]


def neighbours_payload(
    result: Recommendation,
    query: NeighbourQuery,
    *,
    query_raw: np.ndarray | None = None,
    query_tags: np.ndarray | None = None,
) -> dict[str, Any]:
    """``neighbours`` (explained against ``query_raw`` and ``query_tags`` when the query asks)
    and, when it asks, what re-ranking ``dropped``."""
    items = [neighbour_json(n) for n in result.neighbours]
    if query.explain and query_raw is not None and result.neighbours:
        raw = np.vstack([n.song.feature_vector for n in result.neighbours])
        explained = explain(
            state().library.scaler,
            query_raw,
            raw,
            query_tags=query_tags,
            tags=[n.song.tag_vector for n in result.neighbours],
        )
        for item, why in zip(items, explained, strict=True):
            item["explanation"] = explanation_json(why)
    payload: dict[str, Any] = {"neighbours": items}
    if query.explain_drops:
        payload["dropped"] = dropped_json(result.dropped)
    return payload


@bp.get("/songs/<int:song_id>/similar")
@bp.arguments(similar_schemas.SimilarQuery(), location="query")
@bp.response(200, similar_schemas.Similar)
@bp.fails_with(404)
def similar_songs(values: dict[str, Any], song_id: int) -> Response:
    """The ``k`` nearest songs by cosine, the song itself excluded, re-ranked as asked."""
    query = neighbour_query(values)
    choice = state().choose_space(query.space, seeds=[song_id])
    ctx = context(choice.space)
    if not query.options.active:
        # The plain query, the service's hot path: the song and its neighbours in one read.
        song, neighbours = ctx.library.similar_to_song(
            song_id, k=query.k, index=ctx.index, space=ctx.space
        )
        result = Recommendation(neighbours, [])
    else:
        song = get_song_or_404(song_id)
        vector = song_vector(ctx, song)
        result = recommend(
            ctx,
            vector,
            k=query.k,
            options=query.options,
            anchors=[Anchor(song.id, vector, traits(song))],
            skip=frozenset({song_id}),
        )
    payload = neighbours_payload(
        result, query, query_raw=song.feature_vector, query_tags=song.tag_vector
    )
    return jsonify({"song": song_json(song), **choice.json(), **payload})


@bp.post("/similar")
@bp.arguments(similar_schemas.SimilarQuery(), location="query")
@bp.arguments(similar_schemas.Upload(), location="files")
@bp.response(200, similar_schemas.UploadSimilar)
@bp.fails_with(413, 504)
def similar_upload(values: dict[str, Any], files: dict[str, Any]) -> Response:
    """Genre and nearest songs for an uploaded clip (multipart field ``file``).

    The clip is decoded once; the same samples give its 57 features and the network's
    description. A clip shorter than one of the network's 3-s patches has no sound vector:
    asked for ``space=sound`` it is refused (400), otherwise it is answered from ``features``
    with a ``space_note`` saying so.
    """
    query = neighbour_query(values)
    upload = files["file"]
    if not upload.filename:
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
            raw, sound, decoded = future.result(timeout=st.settings.upload_timeout_s)
        except FutureTimeout:
            future.cancel()
            raise ApiError(
                504,
                "analysis_timeout",
                f"analysis took over {st.settings.upload_timeout_s:g} s; send a shorter clip",
            ) from None
    choice = _upload_space(query.space, sound, duration_s=decoded.duration_s)
    prediction = st.library.genre_model.predict(raw[None, :])[0]
    if choice.space == SOUND:
        assert sound is not None
        standardized = st.library.scaler.standardize(raw[None, :])
        vector = sound_vectors(sound.embedding[None, :], standardized=standardized)[0]
    else:
        vector = st.library.vectors(raw)[0]
    clip = SongTraits(title=Path(upload.filename).stem, artist=None, duration_s=decoded.duration_s)
    result = recommend(
        context(choice.space),
        vector,
        k=query.k,
        options=query.options,
        anchors=[Anchor(None, vector, clip)],
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
            **choice.json(),
            **neighbours_payload(result, query, query_raw=raw),
        }
    )


def _upload_space(
    requested: str | None, sound: SoundDescription | None, *, duration_s: float
) -> SpaceChoice:
    """The space an upload is answered from: as for a song, unless it has no sound vector."""
    if sound is not None:
        return state().choose_space(requested)
    why = (
        f"the upload lasts {duration_s:.2f} s, shorter than one patch of the {SOUND} network "
        f"({MIN_DURATION_S:.2f} s)"
    )
    if requested == SOUND:
        raise ApiError(400, "too_short_for_sound", f"{why}; send a longer clip or space={FEATURES}")
    choice = state().choose_space(requested)
    if choice.space == SOUND:
        return SpaceChoice(FEATURES, f"{why}; answering from {FEATURES}")
    return choice


def _analyse_upload(
    path: Path, *, window_s: float, max_duration_s: float
) -> tuple[np.ndarray, SoundDescription | None, Decoded]:
    """Features and the network's description of an uploaded file, from one decode.

    Refuses tracks longer than ``max_duration_s``; the description is None for a clip shorter
    than one of the network's patches.
    """
    decoded = decode_window(path, sr=SR, window_s=window_s)
    if decoded.duration_s > max_duration_s:
        raise ApiError(
            413,
            "too_long",
            f"upload lasts {decoded.duration_s:.0f} s; the limit is {max_duration_s:g} s",
        )
    features = extract_features(y=decoded.y, sr=decoded.sr, path=path)
    return features, describe_sound(decoded.y, decoded.sr, path), decoded


@bp.get("/similar")
@bp.arguments(similar_schemas.SeedQuery(), location="query")
@bp.response(200, similar_schemas.SeedSimilar)
@bp.fails_with(404)
def similar_to_seeds(values: dict[str, Any]) -> Response:
    """The ``k`` songs nearest to the seeds (centroid or per-seed union), away from ``not``.

    With ``tags`` the seeds are (or include) the songs that best match that tag profile.
    """
    query = neighbour_query(values)
    seeds: list[int] = list(values.get("seed") or [])
    check_song_ids([*seeds, *query.negatives])
    choice = state().choose_space(query.space, seeds=[*seeds, *query.negatives])
    ctx = context(choice.space)
    profile = normalize_tags(split_tags(values.get("profile") or []))
    if profile:
        seeds.extend(profile_seeds(ctx.library, profile, skip={*seeds, *query.negatives}))
        if not seeds:
            raise ApiError(
                404, "not_found", "no song has tags yet: the network has not described any"
            )
    seed_songs, result = recommend_for_seeds(
        ctx,
        seeds,
        negatives=query.negatives,
        k=query.k,
        options=query.options,
        mode=query.mode,
        negative_weight=query.negative_weight,
    )
    payload = neighbours_payload(result, query)
    if query.explain and result.neighbours:
        explained = explain_neighbours(ctx.library, seed_songs, result.neighbours)
        for item, (seed_id, why) in zip(payload["neighbours"], explained, strict=True):
            item["explanation"] = {"seed": seed_id, **explanation_json(why)}
    return jsonify(
        {
            "seeds": [song_json(s) for s in seed_songs],
            **({"tags": list(profile)} if profile else {}),
            "not": list(query.negatives),
            "mode": query.mode,
            **choice.json(),
            **payload,
        }
    )
