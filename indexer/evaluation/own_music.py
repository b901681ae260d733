"""Score the song spaces on a user's own music: a folder of audio, or the indexed library.

GTZAN can only say whether a space separates GTZAN's ten genres. A collection of albums can say
whether it hears the rest of the world's music: tracks of one album (or artist, or folder) share
a composer, a band, a production, so a good space puts them near each other, and two excerpts of
one track should find each other. `indexer.evaluation.real_music` computes the scores; this
module gathers the vectors and the groups, and scores every space on the same tracks:

- ``sound``: the network's embedding joined with the standardized features;
- ``features``: the 57 features, log of the variances, standardized;
- ``gtzan-lda``: for reference, the LDA metric fitted on GTZAN's genres.

``sound`` and ``features`` are made as the library makes them (`indexer.model.spaces.row_vectors`)
with the data dir's scaler, so a scaler refitted by ``soundalike train`` is what is scored.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from indexer.audio.excerpts import (
    EXCERPT_MIN_S,
    MIN_DURATION_S,
    WINDOW_S,
    ShortTrack,
    TrackAnalysis,
    Unreadable,
    analyse_for_evaluation,
    check_windows,
)
from indexer.errors import ParameterError
from indexer.evaluation.real_music import KS, space_report
from indexer.ingest.scan import scan_library
from indexer.ingest.workers import map_in_workers
from indexer.library import Library
from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.scaler import Scaler, ensure_scaler, fit_scaler
from indexer.model.spaces import FEATURES, SOUND, row_vectors

GROUPINGS = ("folder", "album", "artist")
GTZAN_LDA = "gtzan-lda"


@dataclass
class Collection:
    """The tracks to score, their groups and raw vectors, and what was left out and why."""

    names: list[str]
    """Each track's path."""
    groups: np.ndarray
    """[shape=(n,)] the group of each track."""
    features: np.ndarray
    """[shape=(n, 57)] raw features."""
    embeddings: np.ndarray | None
    """[shape=(n, 400)] stored embeddings, or None when no track has one."""
    excerpt_tracks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """[shape=(2m,)] the row of the track each excerpt is of."""
    excerpt_features: np.ndarray = field(default_factory=lambda: np.zeros((0, 57)))
    excerpt_embeddings: np.ndarray | None = None
    left_out: dict[str, int] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)
    scaler: Scaler | None = None
    """The data dir's scaler (`Library.scaler`), which makes the library's vectors; None: the
    default one, the bundled GTZAN table's statistics (what a fresh data dir holds)."""


@dataclass
class _Track:
    """One candidate track before the collection is filtered."""

    name: str
    group: str | None
    features: np.ndarray
    embedding: np.ndarray | None
    excerpt_features: np.ndarray | None = None
    excerpt_embeddings: np.ndarray | None = None


def group_of(path: Path, *, artist: str | None, album: str | None, by: str, root: Path) -> str:
    """The group label of a track: its folder (relative to ``root``), album or artist tag.

    Returns an empty string when the tag is missing. Albums are labelled with their artist too,
    so two artists' "Greatest Hits" stay two groups.
    """
    if by == "folder":
        folder = Path(os.path.relpath(path.parent, root))
        return root.name if str(folder) == "." else str(folder)
    if by == "album":
        return f"{artist or '?'} — {album}" if album else ""
    if by == "artist":
        return artist or ""
    raise ParameterError(f"group by one of {', '.join(GROUPINGS)}, not {by!r}")


def analyse_folder(
    root: Path,
    *,
    group_by: str = "folder",
    workers: int = 1,
    progress: bool = False,
    window_s: float = WINDOW_S,
    excerpt_min_s: float = EXCERPT_MIN_S,
    min_duration_s: float = MIN_DURATION_S,
    on_unreadable: Callable[[Unreadable], None] | None = None,
    scaler: Scaler | None = None,
) -> Collection:
    """Decode every audio file under ``root`` once, in worker processes, and collect it.

    Each file gives the 57 features and the network's embedding of its analysis window, and,
    when it lasts at least ``excerpt_min_s``, of two disjoint ``window_s`` excerpts
    (`indexer.audio.excerpts`). Files under ``min_duration_s`` are counted and left out;
    unreadable ones are reported (``on_unreadable``) and left out. ``scaler`` is the data
    dir's (`Collection.scaler`).
    """
    check_windows(window_s=window_s, excerpt_min_s=excerpt_min_s)
    root = Path(os.path.abspath(root))
    paths = scan_library(root)
    if not paths:
        raise ParameterError(f"no audio files under {root}")
    task = partial(
        analyse_for_evaluation,
        window_s=window_s,
        excerpt_min_s=excerpt_min_s,
        min_duration_s=min_duration_s,
    )
    tracks: list[_Track] = []
    short, unreadable = 0, []
    bar = tqdm(total=len(paths), unit="track", disable=not progress, dynamic_ncols=True)
    with bar:
        for result in map_in_workers(
            task, paths, workers=workers, preload=("indexer.audio.excerpts",)
        ):
            bar.update(1)
            if isinstance(result, ShortTrack):
                short += 1
            elif isinstance(result, Unreadable):
                unreadable.append(result)
                if on_unreadable:
                    on_unreadable(result)
            else:
                tracks.append(_track_of(result, group_by=group_by, root=root))
    tracks.sort(key=lambda t: t.name)  # workers finish in any order; the scores must not care
    collection = _collect(tracks, group_by=group_by)
    collection.left_out = _counted({f"shorter than {min_duration_s:g} s": short}, collection)
    collection.unreadable = unreadable
    collection.scaler = scaler
    return collection


def _track_of(result: TrackAnalysis, *, group_by: str, root: Path) -> _Track:
    has_excerpts = len(result.excerpt_features) == 2
    return _Track(
        name=result.path,
        group=group_of(
            Path(result.path), artist=result.artist, album=result.album, by=group_by, root=root
        ),
        features=result.features,
        embedding=result.embedding,
        excerpt_features=result.excerpt_features if has_excerpts else None,
        excerpt_embeddings=(
            result.excerpt_embeddings if len(result.excerpt_embeddings) == 2 else None
        ),
    )


def library_collection(
    library: Library, *, group_by: str = "album", min_duration_s: float = MIN_DURATION_S
) -> Collection:
    """The indexed songs with their stored features and embeddings, grouped from their rows,
    and the library's scaler, so that they are scored in the vectors the library answers with.

    A library keeps one window per song, so there are no excerpts to score.
    """
    ids, raw = library.raw_features()
    if not len(ids):
        raise ParameterError("the library has no songs")
    embedded_ids, embeddings = library.stored_embeddings()
    by_id = dict(zip(embedded_ids.tolist(), embeddings, strict=True))
    places = library.song_places(ids.tolist())
    tracks, short = [], 0
    for song_id, features in zip(ids.tolist(), raw, strict=True):
        place = places[song_id]
        if place.duration_s < min_duration_s:
            short += 1
            continue
        path = Path(place.path)
        tracks.append(
            _Track(
                name=place.path,
                group=group_of(
                    path,
                    artist=place.artist,
                    album=place.album,
                    by=group_by,
                    root=Path(path.anchor),
                ),
                features=features,
                embedding=by_id.get(song_id),
            )
        )
    collection = _collect(tracks, group_by=group_by)
    collection.left_out = _counted({f"shorter than {min_duration_s:g} s": short}, collection)
    collection.scaler = library.scaler
    return collection


def _counted(first: dict[str, int], collection: Collection) -> dict[str, int]:
    """What was left out before the collection was formed, then by it; nonzero counts only."""
    return {reason: n for reason, n in {**first, **collection.left_out}.items() if n}


def _collect(tracks: list[_Track], *, group_by: str) -> Collection:
    """Keep the tracks every space can score, and count the others by reason.

    When some tracks have an embedding, the ones without are left out of every space, so the
    spaces are compared on the same tracks. A track alone in its group cannot have a neighbour
    of its group whatever the space, so it only lowers every score alike: left out too.
    """
    left_out: Counter[str] = Counter()
    kept = [t for t in tracks if t.group]
    left_out[f"no {group_by} tag"] = len(tracks) - len(kept)
    if any(t.embedding is not None for t in kept):
        with_embedding = [t for t in kept if t.embedding is not None]
        left_out["no sound embedding"] = len(kept) - len(with_embedding)
        kept = with_embedding
    sizes = Counter(t.group for t in kept)
    kept = [t for t in kept if sizes[t.group] > 1]
    left_out["alone in its group"] = sum(1 for size in sizes.values() if size == 1)
    if len({t.group for t in kept}) < 2:
        raise ParameterError(
            f"need at least two {group_by} groups of two or more tracks; "
            f"found {len(kept)} track(s) in {len({t.group for t in kept})} such group(s)"
        )
    has_sound = kept[0].embedding is not None
    long_rows = [
        i
        for i, t in enumerate(kept)
        if t.excerpt_features is not None and (not has_sound or t.excerpt_embeddings is not None)
    ]
    collection = Collection(
        names=[t.name for t in kept],
        groups=np.array([t.group for t in kept]),
        features=np.vstack([t.features for t in kept]),
        embeddings=np.vstack([t.embedding for t in kept]) if has_sound else None,
        left_out={reason: count for reason, count in left_out.items() if count},
    )
    if len(long_rows) >= 2:
        collection.excerpt_tracks = np.repeat(np.asarray(long_rows, dtype=np.int64), 2)
        collection.excerpt_features = np.vstack([kept[i].excerpt_features for i in long_rows])
        if has_sound:
            collection.excerpt_embeddings = np.vstack(
                [kept[i].excerpt_embeddings for i in long_rows]
            )
    return collection


def gtzan_scaler(model_dir: Path | None = None) -> Scaler:
    """The LDA metric fitted on the bundled GTZAN table: the data dir's when it is that one.

    Fitting costs seconds, so the library's saved scaler (``model_dir``, fitted or loaded as
    `soundalike index` does) is used when it is that metric on the bundled table. Otherwise
    GTZAN's LDA is fitted in memory: a scaler retrained on a user's own table is not GTZAN's,
    and the default one (the ``features`` space's standardization) has no LDA at all.
    """
    table = load_table(bundled_table_path())
    if model_dir is not None:
        saved = ensure_scaler(model_dir)
        if saved.source_sha256 == table.sha256 and saved.projection is not None:
            return saved
    return fit_scaler(table.X, source_sha256=table.sha256, labels=table.labels, metric="lda")


def space_vectors(
    features: np.ndarray, embeddings: np.ndarray | None, *, scaler: Scaler, lda: Scaler
) -> dict[str, np.ndarray]:
    """Unit vectors of the same tracks in every space (``sound`` only with embeddings).

    ``sound`` and ``features`` are the library's vectors with its ``scaler``; ``gtzan-lda`` is
    the reference metric ``lda``.
    """
    spaces = {}
    if embeddings is not None:
        spaces[SOUND] = row_vectors(SOUND, features, scaler=scaler, embeddings=embeddings)
    spaces[FEATURES] = row_vectors(FEATURES, features, scaler=scaler)
    spaces[GTZAN_LDA] = lda.transform(features)
    return spaces


def collection_vectors(
    collection: Collection, *, lda: Scaler
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every space's unit vectors of the tracks, and of their excerpts (empty without any)."""
    # The default scaler is GTZAN's LDA without its projection: the same table and log.
    scaler = collection.scaler or replace(lda, projection=None)
    tracks = space_vectors(collection.features, collection.embeddings, scaler=scaler, lda=lda)
    if not len(collection.excerpt_tracks):
        return tracks, {}
    excerpts = space_vectors(
        collection.excerpt_features, collection.excerpt_embeddings, scaler=scaler, lda=lda
    )
    return tracks, excerpts


def evaluate_collection(collection: Collection, *, lda: Scaler | None = None) -> dict[str, Any]:
    """Every space's group precision (overall and per group), excerpt self-retrieval, hubness.

    ``lda`` is the reference metric (by default fitted on the bundled GTZAN table).
    """
    started = time.perf_counter()
    lda = lda or gtzan_scaler()
    n = len(collection.names)
    ks = tuple(k for k in KS if k < n)
    track_vecs, excerpt_vecs = collection_vectors(collection, lda=lda)
    has_excerpts = len(collection.excerpt_tracks) > 0
    spaces = {}
    for name, vecs in track_vecs.items():
        spaces[name] = {
            "dim": int(vecs.shape[1]),
            **space_report(
                vecs,
                collection.groups,
                excerpt_vecs=excerpt_vecs.get(name),
                excerpt_tracks=collection.excerpt_tracks if has_excerpts else None,
                ks=ks,
                per_group=True,
            ),
        }
    names, counts = np.unique(collection.groups, return_counts=True)
    return {
        "n_tracks": n,
        "n_groups": len(names),
        "n_long_tracks": len(collection.excerpt_tracks) // 2,
        "groups": {str(g): int(c) for g, c in zip(names, counts, strict=True)},
        "left_out": collection.left_out,
        "unreadable": [{"path": u.path, "reason": u.reason} for u in collection.unreadable],
        "spaces": spaces,
        "seconds": time.perf_counter() - started,
    }
