"""How smooth the walks through the evaluated table are: paths and playlists, as the service
builds them.

The table's rows are written as the songs of a throwaway SQLite library (no audio is decoded),
with the metric and the genre model fitted on the table as ``soundalike train --table`` fits
them, so `find_path` and `build_playlist` run unchanged. Smoothness is the mean cosine between
consecutive songs in that metric (`indexer.walks.gather.smoothness`). Each path is compared with the
direct hop from its start to its goal; each playlist with the same songs shuffled, and the
playlist under the per-artist cap with the one without it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from indexer.audio.analyse import SongRecord
from indexer.errors import ParameterError
from indexer.library import Library
from indexer.model.genre import save_genre_model
from indexer.model.genre_training import train_genre_model
from indexer.model.gtzan_table import FeatureTable, artist_ids
from indexer.model.scaler import refit_scaler
from indexer.model.spaces import FEATURES
from indexer.settings import load_settings
from indexer.vectors.index import VectorIndex
from indexer.walks.gather import smoothness, tracks
from indexer.walks.path import find_path
from indexer.walks.playlist import build_playlist

PAIRS = 50
PATH_STEPS = 10
PLAYLIST_LENGTH = 25
# The cap the re-ranking figures use: with real artists, two keeps a playlist varied.
MAX_PER_ARTIST = 2
GTZAN_CLIP_S = 30.0


def table_records(table: FeatureTable, artists: Sequence[str]) -> list[SongRecord]:
    """Every table row as a song (its features, the given artist, a 30 s clip), in table order."""
    return [
        SongRecord(f"/table/{name}", name, 0, 0, name, str(artist), None, GTZAN_CLIP_S, row)
        for name, artist, row in zip(table.filenames, artists, table.X, strict=True)
    ]


def fill_library(library: Library, table: FeatureTable, artists: Sequence[str]) -> list[int]:
    """Write every table row into ``library`` and index it; returns the ids in table order."""
    ids = library.write_songs(table_records(table, artists))
    library.sync_indexes()
    return ids


@contextmanager
def table_library(
    table: FeatureTable, artists: Sequence[str], *, n_jobs: int | None = None
) -> Iterator[tuple[Library, list[int]]]:
    """A SQLite library of the table's rows in a temporary folder, removed on exit.

    Yields the library and the song ids in table order. The settings ignore the environment,
    so a configured ``DATABASE_URL`` is never written to.
    """
    with tempfile.TemporaryDirectory(prefix="soundalike-walks-") as folder:
        settings = load_settings(environ={}, overrides={"data_dir": Path(folder), "workers": 1})
        refit_scaler(settings.model_dir, table)
        # Genre labels play no part in a walk: one fit, without the cross-validation.
        model = train_genre_model(table, evaluate=False, n_jobs=n_jobs)
        save_genre_model(model, settings.model_dir)
        library = Library(settings)
        try:
            yield library, fill_library(library, table, artists)
        finally:
            library.close()


def cross_genre_pairs(
    labels: np.ndarray, *, n: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """``n`` random pairs of row indices whose genres differ (a pair may come up twice)."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ParameterError("cross-genre pairs need at least two genres")
    pairs: list[tuple[int, int]] = []
    while len(pairs) < n:
        a, b = rng.choice(len(labels), size=2, replace=False)
        if labels[a] != labels[b]:
            pairs.append((int(a), int(b)))
    return pairs


def path_scores(
    library: Library, index: VectorIndex, pairs: Sequence[tuple[int, int]], *, steps: int
) -> dict[str, Any]:
    """`find_path` for each pair of song ids: smoothness against the direct hop's cosine.

    Also the songs per path, how many paths ever moved away from the goal (the walk promises
    none) and the median time per path.
    """
    seconds, smooth, direct, lengths, fell = [], [], [], [], 0
    for a, b in pairs:
        started = time.perf_counter()
        path = find_path(library, a, b, steps=steps, index=index, space=FEATURES)
        seconds.append(time.perf_counter() - started)
        smooth.append(path.smoothness)
        # The first step's similarity to the goal is the cosine of the direct hop.
        direct.append(path.steps[0].similarity_to_goal)
        lengths.append(len(path.steps))
        goal = [s.similarity_to_goal for s in path.steps]
        fell += goal != sorted(goal)
    return {
        "pairs": len(pairs),
        "steps": steps,
        "smoothness": float(np.mean(smooth)),
        "direct_hop": float(np.mean(direct)),
        "songs_mean": float(np.mean(lengths)),
        "songs_min": int(min(lengths)),
        "songs_max": int(max(lengths)),
        "goal_similarity_fell": fell,
        "p50_ms": 1000 * float(np.median(seconds)),
    }


def playlist_scores(
    library: Library,
    index: VectorIndex,
    seeds: Sequence[int],
    *,
    length: int,
    max_per_artist: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """A ``length``-song `build_playlist` from each seed id, capped and not.

    Smoothness of the capped playlists, of the same songs shuffled (what the ordering adds) and
    of the uncapped playlists (what the cap costs), with the distinct artists of each and the
    median time of a capped playlist.
    """
    seconds, capped, shuffled, plain, capped_artists, plain_artists = [], [], [], [], [], []
    for seed in seeds:
        started = time.perf_counter()
        playlist = build_playlist(
            library,
            [seed],
            length=length,
            max_per_artist=max_per_artist,
            index=index,
            space=FEATURES,
        )
        seconds.append(time.perf_counter() - started)
        capped.append(playlist.smoothness)
        capped_artists.append(len({e.song.artist for e in playlist.entries}))
        vectors = [
            t.vector
            for t in tracks(library, index, [e.song.id for e in playlist.entries], space=FEATURES)
        ]
        order = rng.permutation(len(vectors))
        shuffled.append(smoothness([vectors[i] for i in order]))
        free = build_playlist(library, [seed], length=length, index=index, space=FEATURES)
        plain.append(free.smoothness)
        plain_artists.append(len({e.song.artist for e in free.entries}))
    return {
        "playlists": len(seeds),
        "length": length,
        "max_per_artist": max_per_artist,
        "smoothness": float(np.mean(capped)),
        "shuffled": float(np.mean(shuffled)),
        "no_cap": float(np.mean(plain)),
        "distinct_artists": float(np.mean(capped_artists)),
        "distinct_artists_no_cap": float(np.mean(plain_artists)),
        "p50_ms": 1000 * float(np.median(seconds)),
    }


def walk_report(
    table: FeatureTable,
    *,
    pairs: int = PAIRS,
    seed: int = 0,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Path and playlist smoothness on ``table``, with the seconds it took.

    ``pairs`` seeded random pairs of songs from different genres are walked with
    `PATH_STEPS` steps, and the first song of each pair seeds a playlist.
    Artists are the table's ``group`` column, else GTZAN's artist ids, else the genre.
    """
    started = time.perf_counter()
    artists = artist_ids(table, unknown=[f"genre-{label}" for label in table.labels])
    rng = np.random.default_rng(seed)
    rows = cross_genre_pairs(table.labels, n=pairs, rng=rng)
    with table_library(table, artists, n_jobs=n_jobs) as (library, ids):
        # Table rows have no embedding: walks run in the features space, where they all are.
        index, _ = library.load_index(space=FEATURES)
        id_pairs = [(ids[a], ids[b]) for a, b in rows]
        report: dict[str, Any] = {
            "paths": path_scores(library, index, id_pairs, steps=PATH_STEPS),
            "playlists": playlist_scores(
                library,
                index,
                [a for a, _ in id_pairs],
                length=PLAYLIST_LENGTH,
                max_per_artist=MAX_PER_ARTIST,
                rng=rng,
            ),
        }
    report["seconds"] = time.perf_counter() - started
    return report
