"""The library at a glance, for the page: genre counts, indexing status and a 2-D song map.

The map shows at most `MAP_POINTS` songs: a million points would be a 100 MB answer that no
browser draws, and computing it would read every song's features. Above that size an evenly
spaced sample of the ids (the same one for every request of an index generation) is placed
on the PCA plane of that sample.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import Response, current_app, jsonify

from indexer.model.spaces import FEATURES
from service.api_blueprint import Blueprint
from service.schemas import library as library_schemas
from service.state import state

bp = Blueprint("library", __name__, url_prefix="/api/library")

# Songs on the map at most; more would not be readable as dots on a page either.
MAP_POINTS = 5000

_map_lock = threading.Lock()


@dataclass(frozen=True)
class SongMap:
    """2-D positions of the mapped songs (all, or a sample of `MAP_POINTS`), for one generation."""

    generation: int
    ids: np.ndarray
    xy: np.ndarray
    explained: list[float]
    total: int


def project_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """PCA of the song vectors to two dimensions, and the share of variance each keeps.

    Parameters
    ----------
    vectors : np.ndarray [shape=(n, d)]
        The unit vectors the index searches, so distances on the map follow the cosine.

    Returns
    -------
    xy : np.ndarray [shape=(n, 2)]
        Coordinates scaled into [-1, 1]; each axis's sign is fixed so the map does not flip
        between generations when little changes.
    explained : list of two floats
    """
    n = vectors.shape[0]
    xy = np.zeros((n, 2))
    if n < 2:
        return xy, [0.0, 0.0]
    centred = vectors - vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, vt.shape[0])
    components = vt[:k]
    # Fix each axis's direction by its largest loading, which SVD leaves arbitrary.
    signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
    xy[:, :k] = centred @ (components * signs[:, None]).T
    peak = np.abs(xy).max()
    if peak > 0:
        xy /= peak
    total = float((s**2).sum())
    explained = [float(v / total) if total > 0 else 0.0 for v in (s[:2] ** 2)]
    return xy, explained + [0.0] * (2 - len(explained))


def sample_ids(ids: np.ndarray, limit: int) -> np.ndarray:
    """``limit`` ids evenly spaced through the sorted ``ids`` (all of them if fewer)."""
    if len(ids) <= limit:
        return ids
    return ids[np.linspace(0, len(ids) - 1, limit).round().astype(np.int64)]


def song_map() -> SongMap:
    """The map for the current index generation, computed once per generation and worker."""
    st = state()
    # The map places songs by their 57 features, the space every song is in.
    _, manifest = st.index(FEATURES)
    cached: SongMap | None = current_app.extensions.get("soundalike_map")
    if cached is not None and cached.generation == manifest.generation:
        return cached
    with _map_lock:
        every = st.library.all_ids()
        wanted = sample_ids(every, MAP_POINTS)
        ids, raw = st.library.raw_features(None if len(wanted) == len(every) else wanted)
        vectors = st.library.vectors(raw) if len(ids) else np.zeros((0, 1))
        xy, explained = project_2d(vectors)
        fresh = SongMap(manifest.generation, ids, xy, explained, total=len(every))
        current_app.extensions["soundalike_map"] = fresh
        return fresh


@bp.get("/stats")
@bp.response(200, library_schemas.LibraryStats)
def library_stats() -> Response:
    """Songs per genre (most first) and how far the index is behind the database.

    Measured on the ``features`` index, which holds every song: the ``sound`` index leaves out
    clips too short for the network, which would read as songs not yet indexed.
    """
    st = state()
    index, manifest = st.index(FEATURES)
    songs, genres = st.library.count_songs(), st.library.genre_counts()
    return jsonify(
        {
            "songs": songs,
            "indexed": len(index),
            "index_generation": manifest.generation,
            "synced_at": manifest.synced_at,
            "index_written_at": manifest.written_at,
            "model_version": st.library.genre_model.version,
            "max_upload_bytes": st.settings.max_upload_bytes,
            "genres": [
                {"label": label, "count": count}
                for label, count in sorted(genres.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        }
    )


@bp.get("/map")
@bp.response(200, library_schemas.LibraryMap)
def library_map() -> Response:
    """Songs at their 2-D PCA position (every song, or an even sample of `MAP_POINTS` in a
    larger library), with title and genre for colouring and tooltips."""
    st = state()
    mapped = song_map()
    labels = st.library.song_labels(mapped.ids.tolist())
    points: list[dict[str, Any]] = []
    for song_id, (x, y) in zip(mapped.ids.tolist(), mapped.xy.tolist(), strict=True):
        label = labels.get(song_id)
        if label is None:  # removed since the map was computed
            continue
        points.append(
            {
                "id": song_id,
                "title": label.title,
                "artist": label.artist,
                "genre": label.genre,
                "x": round(x, 5),
                "y": round(y, 5),
            }
        )
    return jsonify(
        {
            "index_generation": mapped.generation,
            "method": "pca",
            "explained_variance": [round(v, 4) for v in mapped.explained],
            "songs": mapped.total,
            "sampled": len(mapped.ids) < mapped.total,
            "points": points,
        }
    )
