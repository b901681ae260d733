"""The sound space joined with the 57 features, and centred sound vectors, at every patch count.

    python -m bench.sound_blend [--corpus DIR] [--weight W] [--centre-on DIR] [--json FILE]

The network costs the same for every patch it runs, so a recipe that makes a song vector out of
what is computed anyway (the stored network means and the 57 features) is free at indexing
time. This scores, on the cached outputs of `bench.real_music` (per-patch network outputs from
`bench.sound_patches`, the 57 features of every window and excerpt), for 1, 2, 3, 4 and all 10
spread patches:

- ``networks alone``: `indexer.model.spaces.network_vectors`, the library's former sound space;
- ``sound space (library)``: `indexer.model.spaces.sound_vectors`, the blend below at the
  library's weight;
- ``blend w``: the sound vector and the features vector joined as [sqrt(1 - w) sound,
  sqrt(w) features], so that the cosine is (1 - w) of the sound cosine plus w of the features'.
  ``features (GTZAN)`` is the ``features`` space exactly as the library makes it: the log of the
  variance columns, standardized with the means and spreads of the bundled GTZAN table (the
  library's scaler, `indexer.model.scaler.ensure_scaler`); nothing is fitted on the corpus.
  ``features (corpus)`` is standardized with the corpus's own means and spreads instead (as a
  library fitted on its own songs would be): fitted, so only scored leave-one-soundtrack-out;
- ``blend, w chosen leave-one-soundtrack-out``: for each soundtrack in turn, w is the weight of
  ``WEIGHT_GRID`` with the highest precision@5 + excerpt@1 among the other soundtracks alone
  (their tracks and excerpts in their own pool, the features standardized on them for the
  ``corpus`` variant); the held-out soundtrack's tracks and excerpts then ask with that w
  against the whole pool;
- ``centred on <collection>`` (``--centre-on``): the 400 stored values minus their mean over
  another collection's tracks (`bench.sound_patches` cache of that folder), then
  `network_vectors`, alone and blended. Nothing of the scored corpus is used.

``--weight`` adds fixed weights; the corpus defaults to the development corpus
(`bench.game_music`), and ``--corpus ~/.cache/soundalike/game-music-held-out`` scores the
held-out one. Tracks whose outputs are not cached are computed first (minutes per track on a
busy machine).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.corpus_cache import results_of
from bench.game_music import DEFAULT_CORPUS, corpus_tracks
from bench.real_music import blend, load_features, scored, table, unit_rows
from bench.sound_patches import load_patches, stored_embeddings
from indexer.audio.embedding import MODELS, STORED_DIM
from indexer.evaluation.real_music import (
    Transform,
    excerpt_retrieval,
    group_precision,
    leave_one_group_out,
)
from indexer.model.scaler import ensure_scaler
from indexer.model.spaces import FEATURES_WEIGHT, network_vectors, sound_vectors

PATCH_COUNTS: tuple[int | None, ...] = (1, 2, 3, 4, None)
"""Spread patches per window; None is all of them (10 for a 30-s window)."""
FIXED_WEIGHTS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.5)
WEIGHT_GRID = tuple(round(0.05 * i, 2) for i in range(13))
"""Weights a leave-one-soundtrack-out fold chooses from: 0 (sound alone) to 0.6."""


@dataclass(frozen=True)
class Corpus:
    """A corpus's stored rows: [400 network means, 57 raw features] per track and per excerpt."""

    X: np.ndarray
    X_excerpts: np.ndarray
    groups: np.ndarray
    excerpt_tracks: np.ndarray


def patches_label(k: int | None) -> str:
    """How many patches, for a table row."""
    return "10 patches" if k is None else f"{k} spread patch{'es' if k > 1 else ''}"


def corpus_rows(
    corpus: Path, *, k: int | None, workers: int, features: bool = True
) -> tuple[Corpus, list[Any]]:
    """The stored rows of every track of ``corpus`` with ``k`` spread patches (cached outputs)."""
    patch_dir = corpus.with_name(f"{corpus.name}-patches") / "library"
    tracks, patches, _ = load_patches(corpus_tracks(corpus), patch_dir, workers=workers)
    if features:
        with_features, loaded, _ = load_features(
            tracks, corpus.with_name(f"{corpus.name}-features"), workers=workers
        )
        # Every track is scored with both halves: those both caches could analyse.
        patches, tracks = results_of(tracks, patches, with_features), with_features
    groups = np.array([t.soundtrack for t in tracks])
    E, E_excerpts = stored_embeddings(patches, k=k)
    long_rows = [i for i, t in enumerate(patches) if len(t.excerpts[MODELS[0]])]
    if features:
        F = np.vstack([f.features for f in loaded])
        F_excerpts = np.vstack([loaded[i].excerpts for i in long_rows])
        E, E_excerpts = np.hstack([E, F]), np.hstack([E_excerpts, F_excerpts])
    return Corpus(E, E_excerpts, groups, np.repeat(long_rows, 2)), patches


def centring_vector(collection: Path, *, workers: int) -> np.ndarray:
    """Mean of the 400 stored values (all patches) over every track of another collection."""
    rows, _ = corpus_rows(collection, k=None, workers=workers, features=False)
    return rows.X.mean(axis=0)


def centred(mean: np.ndarray) -> Transform:
    """The library's recipe on the stored values minus a fixed mean."""
    return lambda X: network_vectors(X[:, :STORED_DIM] - mean)


def goal_score(transform: Transform, c: Corpus, train: np.ndarray) -> float:
    """precision@5 + excerpt@1 among the ``train`` tracks and their excerpts alone."""
    rows = np.flatnonzero(train)
    vecs = transform(c.X[rows])
    p5 = group_precision(vecs, c.groups[rows], ks=(5,))["precision@5"]["value"]
    asking = np.flatnonzero(train[c.excerpt_tracks])
    exc = excerpt_retrieval(transform(c.X_excerpts[asking]), c.excerpt_tracks[asking])
    return p5 + exc["excerpt@1"]["value"]


def features_fitter(
    standardize: Callable[[np.ndarray], np.ndarray],
) -> Callable[[np.ndarray], Transform]:
    """Fits the features' standardization on the given raw rows (the ``corpus`` variant).

    Standardizing the GTZAN-standardized values again is the same affine map as standardizing
    the log features with the rows' own statistics.
    """

    def fit(raw: np.ndarray) -> Transform:
        Z = standardize(raw)
        mean, scale = Z.mean(axis=0), Z.std(axis=0)
        scale[scale == 0] = 1.0
        return lambda F: unit_rows((standardize(F) - mean) / scale)

    return fit


def loso_weight(
    c: Corpus, features_for: Callable[[np.ndarray], Transform] | None, gtzan: Transform
) -> tuple[dict[str, Any], dict[str, float]]:
    """The blend with w chosen on the other soundtracks, scored on each held-out one.

    ``features_for`` fits the features' transform on the training tracks' raw features; None
    keeps the library's GTZAN standardization, which nothing here fits. w = 0 is the sound
    vector alone (its features half is zero).
    """
    chosen: dict[str, float] = {}
    for name in np.unique(c.groups):
        train = c.groups != name
        features = gtzan if features_for is None else features_for(c.X[train, STORED_DIM:])
        scores = [goal_score(blend(network_vectors, features, w=w), c, train) for w in WEIGHT_GRID]
        chosen[str(name)] = WEIGHT_GRID[int(np.argmax(scores))]

    def fit(rows: np.ndarray, groups: np.ndarray) -> Transform:
        (held_out,) = set(np.unique(c.groups)) - set(np.unique(groups))
        features = gtzan if features_for is None else features_for(rows[:, STORED_DIM:])
        return blend(network_vectors, features, w=chosen[str(held_out)])

    report = leave_one_group_out(
        fit, c.X, c.groups, excerpts=c.X_excerpts, excerpt_tracks=c.excerpt_tracks
    )
    return report, chosen


def network_vectors_of_rows(X: np.ndarray) -> np.ndarray:
    """`network_vectors` of the network part of [400 network means, 57 features] rows."""
    return network_vectors(X[:, :STORED_DIM])


def evaluate(
    corpus: Path,
    *,
    weights: tuple[float, ...],
    centres: dict[str, np.ndarray],
    workers: int,
    loso: bool,
) -> dict[str, Any]:
    """Every recipe at every patch count on one corpus."""
    with tempfile.TemporaryDirectory(prefix="soundalike-model-") as model_dir:
        scaler = ensure_scaler(Path(model_dir))  # the library's: fitted on the bundled table
    gtzan_scaler = replace(scaler, projection=None)
    gtzan = gtzan_scaler.transform
    spaces: dict[str, Any] = {}
    chosen: dict[str, dict[str, float]] = {}
    for k in PATCH_COUNTS:
        c, _ = corpus_rows(corpus, k=k, workers=workers)
        label = patches_label(k)

        def add(name: str, transform: Transform, c: Corpus = c) -> None:
            spaces[name] = scored(transform, c.X, c.groups, c.X_excerpts, c.excerpt_tracks)

        add(f"networks alone, {label}", network_vectors_of_rows)
        add(
            f"sound space (library, w={FEATURES_WEIGHT:g}), {label}",
            lambda X: sound_vectors(
                X[:, :STORED_DIM], standardized=gtzan_scaler.standardize(X[:, STORED_DIM:])
            ),
        )
        for w in weights:
            add(f"blend features (GTZAN) w={w:g}, {label}", blend(network_vectors, gtzan, w=w))
        for name, mean in centres.items():
            add(f"sound centred on {name}, {label}", centred(mean))
            for w in weights:
                add(
                    f"blend (centred on {name}) w={w:g}, {label}",
                    blend(lambda E, m=mean: network_vectors(E - m), gtzan, w=w),
                )
        if loso:
            for variant, fitter in (
                ("GTZAN", None),
                ("corpus", features_fitter(gtzan_scaler.standardize)),
            ):
                name = f"blend features ({variant}), w LOSO, {label}"
                report, picked = loso_weight(c, fitter, gtzan)
                spaces[name] = {"dim": STORED_DIM + 57, **report}
                chosen[name] = picked
    return {"corpus": str(corpus), "spaces": spaces, "chosen_weights": chosen}


def main() -> None:
    """Score every recipe at every patch count, print the table (and write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--weight", type=float, action="append", default=[])
    parser.add_argument(
        "--centre-on", type=Path, action="append", default=[], help="another collection's folder"
    )
    parser.add_argument("--no-loso", action="store_true", help="fixed weights only")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    centres = {p.name: centring_vector(p, workers=args.workers) for p in args.centre_on}
    result = evaluate(
        args.corpus,
        weights=tuple(sorted({*FIXED_WEIGHTS, *args.weight})),
        centres=centres,
        workers=args.workers,
        loso=not args.no_loso,
    )
    print(table(result))
    for name, picked in result["chosen_weights"].items():
        print(f"{name}: " + ", ".join(f"{g} {w:g}" for g, w in picked.items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
