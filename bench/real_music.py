"""How today's song vectors do on real music: the game-soundtrack corpus, soundtrack = label.

    python -m bench.real_music [--corpus DIR] [--workers 2] [--json FILE]

Decodes every corpus track (built by ``python -m bench.game_music``) with the project's decoder
and computes the 57 features of its middle 30 s, as ``soundalike index`` does; for tracks of at
least 70 s also two disjoint 30-s excerpts, the middle 30 s of each half. Features are cached
per file (`bench.corpus_features`: an .npz keyed by path, size, mtime and the decoder's and
extractor's source), so a second run only does the arithmetic. Then, for each space, prints
soundtrack precision@1/5/10 with chance beside it, excerpt self-retrieval (@1 and recall@5) and
hubness (`indexer.evaluation.real_music`):

- ``default``: the former default metric, opt-in now (``soundalike train``): the log of
  the variance columns, standardized with the GTZAN table's means and spreads, then the LDA
  metric fitted on GTZAN's genres (`indexer.model.scaler`, `indexer.model.metric`);
- ``log-standardized (GTZAN)``: the same scaler without the projection;
- ``log-standardized (corpus)``: the log features standardized with the corpus's own means and
  spreads. That is fitted on the corpus, so it is also scored leave-one-soundtrack-out.

Then the sound space: musicnn's penultimate layers (`indexer.audio.embedding`), whose per-patch
outputs `bench.sound_patches` caches beside the corpus (``-patches``), so every recipe and every
choice of patches is arithmetic on one run of the networks. Each recipe maps the 400 stored
floats (MSD 200, then MTT 200) to unit vectors:

- ``sound: MSD`` and ``sound: MTT``: one network's 200 values, unit length;
- ``sound: MSD+MTT (networks)``: `indexer.model.spaces.network_vectors`, the networks' half of
  the library's sound space;
- ``sound: MSD+MTT, joined raw``: the 400 values as they are, unit length (no per-network
  balance);
- ``sound: MSD+MTT, signed square root``: sign(x) sqrt(|x|) of each value first (the layer is
  batch-normalised after its ReLU, so values can be negative), which damps the few units that
  fire hardest (power normalisation, fixed);
- ``sound: MSD+MTT, centred/standardized (corpus)``: each of the 400 values centred on (and
  divided by the spread of) the corpus: fitted, so also scored leave-one-soundtrack-out;
- ``blend``: the networks' vector and the 57 features standardized on GTZAN, joined with
  weights so that the cosine is (1 - w) of the sound cosine plus w of the features' cosine
  (the library's sound space is this with w = 0.2; `bench.sound_blend` scores it at every
  patch count);
- ``patches``: the library's recipe on the mean of ``k`` of the window's 10 patches, spread
  evenly over it (what `indexer.audio.embedding` stores when it runs only those).

``--sound-models DIR`` runs another folder of ``<model>.onnx`` files (a quantised copy) and
prints its table beside the library's models'.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.corpus_cache import EXCERPT_MIN_S, results_of
from bench.corpus_features import TrackFeatures, load_features
from bench.game_music import DEFAULT_CORPUS, corpus_tracks
from bench.sound_patches import TrackPatches, cached_tracks, load_patches, stored_embeddings
from indexer.audio.embedding import MODEL_DIR, MODELS, N_PENULTIMATE
from indexer.evaluation.real_music import Transform, leave_one_group_out, space_report
from indexer.model.scaler import Scaler, ensure_scaler
from indexer.model.spaces import network_vectors

BLEND_WEIGHTS = (0.2, 0.35, 0.5)
PATCH_COUNTS = (10, 5, 4, 3, 2, 1)


def unit_rows(Z: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, so inner product is cosine."""
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return np.divide(Z, norms, out=np.zeros_like(Z), where=norms > 0).astype(np.float32)


def corpus_standardized(gtzan: Scaler) -> Callable[[np.ndarray, np.ndarray], Transform]:
    """A fitter: the log features standardized with the means and spreads of the rows given."""

    def fit(rows: np.ndarray, groups: np.ndarray) -> Transform:
        # Standardizing the GTZAN-standardized values again is the same affine map as
        # standardizing the log features directly with the rows' own statistics.
        Z = gtzan.standardize(rows)
        mean, scale = Z.mean(axis=0), Z.std(axis=0)
        scale[scale == 0] = 1.0
        return lambda X: unit_rows((gtzan.standardize(X) - mean) / scale)

    return fit


def networks_unit(E: np.ndarray) -> np.ndarray:
    """Each network's 200 values unit length, joined and unit again (as `network_vectors` does)."""
    parts = [unit_rows(E[:, i : i + N_PENULTIMATE]) for i in range(0, E.shape[1], N_PENULTIMATE)]
    return unit_rows(np.hstack(parts))


def signed_sqrt(E: np.ndarray) -> np.ndarray:
    """`networks_unit` of sign(x) sqrt(|x|): damps the few units that fire hardest."""
    return networks_unit(np.sign(E) * np.sqrt(np.abs(E)))


def sound_fitter(*, scale: bool) -> Callable[[np.ndarray, np.ndarray], Transform]:
    """A fitter: the 400 values centred on the rows given (and divided by their spread)."""

    def fit(rows: np.ndarray, groups: np.ndarray) -> Transform:
        mean = rows.mean(axis=0)
        spread = rows.std(axis=0) if scale else np.ones(rows.shape[1])
        spread[spread < 1e-6] = 1.0
        return lambda E: networks_unit((E - mean) / spread)

    return fit


def blend(sound: Transform, features: Transform, *, w: float) -> Transform:
    """Rows of [400 stored floats, 57 features] to a vector whose cosine mixes the two's."""

    def transform(X: np.ndarray) -> np.ndarray:
        s, f = sound(X[:, : 2 * N_PENULTIMATE]), features(X[:, 2 * N_PENULTIMATE :])
        return unit_rows(np.hstack([np.sqrt(1 - w) * s, np.sqrt(w) * f]))

    return transform


def scored(
    transform: Transform,
    X: np.ndarray,
    groups: np.ndarray,
    excerpts: np.ndarray,
    excerpt_tracks: np.ndarray,
) -> dict[str, Any]:
    """`space_report` of one fixed transform, with its dimension."""
    vecs = transform(X)
    return {
        "dim": int(vecs.shape[1]),
        **space_report(
            vecs, groups, excerpt_vecs=transform(excerpts), excerpt_tracks=excerpt_tracks
        ),
    }


def evaluate_sound(
    patches: list[TrackPatches],
    groups: np.ndarray,
    *,
    features: list[TrackFeatures] | None = None,
    scaler: Scaler | None = None,
    recipes: bool = True,
) -> dict[str, Any]:
    """Every sound recipe, patch count and (given the features) blend; LOSO for what is fitted."""
    E, E_excerpts = stored_embeddings(patches)
    long_rows = [i for i, t in enumerate(patches) if len(t.excerpts[MODELS[0]])]
    excerpt_tracks = np.repeat(long_rows, 2)
    spaces: dict[str, Any] = {}

    def add(name: str, transform: Transform, X: np.ndarray, X_excerpts: np.ndarray) -> None:
        spaces[name] = scored(transform, X, groups, X_excerpts, excerpt_tracks)

    def add_loso(name: str, fit: Callable[[np.ndarray, np.ndarray], Transform]) -> None:
        spaces[f"{name}, leave-one-soundtrack-out"] = {
            "dim": spaces[name]["dim"],
            **leave_one_group_out(
                fit, E, groups, excerpts=E_excerpts, excerpt_tracks=excerpt_tracks
            ),
        }

    if recipes:
        add("sound: MSD", lambda E: unit_rows(E[:, :N_PENULTIMATE]), E, E_excerpts)
        add("sound: MTT", lambda E: unit_rows(E[:, N_PENULTIMATE:]), E, E_excerpts)
    add("sound: MSD+MTT (networks)", network_vectors, E, E_excerpts)
    if recipes:
        add("sound: MSD+MTT, joined raw", unit_rows, E, E_excerpts)
        add("sound: MSD+MTT, signed square root", signed_sqrt, E, E_excerpts)
        for label, scale in (("centred", False), ("standardized", True)):
            name = f"sound: MSD+MTT, {label} (corpus)"
            fit = sound_fitter(scale=scale)
            add(name, fit(E, groups), E, E_excerpts)
            add_loso(name, fit)
    if recipes and features is not None and scaler is not None:
        F = np.vstack([f.features for f in features])
        F_excerpts = np.vstack([features[i].excerpts for i in long_rows])
        gtzan = replace(scaler, projection=None).transform
        for w in BLEND_WEIGHTS:
            add(
                f"blend: networks, features (GTZAN) w={w:g}",
                blend(network_vectors, gtzan, w=w),
                np.hstack([E, F]),
                np.hstack([E_excerpts, F_excerpts]),
            )
    for k in PATCH_COUNTS[1:]:
        E_k, E_k_excerpts = stored_embeddings(patches, k=k)
        add(f"sound: MSD+MTT (networks), {k} spread patches", network_vectors, E_k, E_k_excerpts)
        if recipes:
            msd = lambda E: unit_rows(E[:, :N_PENULTIMATE])  # noqa: E731
            add(f"sound: MSD, {k} spread patches", msd, E_k, E_k_excerpts)
    return {"spaces": spaces}


def evaluate(features: list[TrackFeatures], groups: np.ndarray, scaler: Scaler) -> dict[str, Any]:
    """Every space's scores on the corpus."""
    X = np.vstack([f.features for f in features])
    long_rows = [i for i, f in enumerate(features) if len(f.excerpts)]
    excerpts = np.vstack([features[i].excerpts for i in long_rows])
    excerpt_tracks = np.repeat(long_rows, 2)
    gtzan_standardized = replace(scaler, projection=None)
    corpus_fit = corpus_standardized(scaler)
    transforms: dict[str, Transform] = {
        "default": scaler.transform,
        "log-standardized (GTZAN)": gtzan_standardized.transform,
        "log-standardized (corpus)": corpus_fit(X, groups),
    }
    spaces = {}
    for name, transform in transforms.items():
        spaces[name] = {
            "dim": int(transform(X[:1]).shape[1]),
            **space_report(
                transform(X),
                groups,
                excerpt_vecs=transform(excerpts),
                excerpt_tracks=excerpt_tracks,
            ),
        }
    spaces["log-standardized (corpus), leave-one-soundtrack-out"] = {
        "dim": spaces["log-standardized (corpus)"]["dim"],
        **leave_one_group_out(
            corpus_fit, X, groups, excerpts=excerpts, excerpt_tracks=excerpt_tracks
        ),
    }
    # How often the default metric's genre posteriors saturate on music that is not GTZAN's.
    n_classes = len(scaler.projection.classes)
    posteriors = scaler.projection.transform(scaler.standardize(X))[:, :n_classes] ** 2
    return {
        "scaler_version": scaler.version,
        "default_top_posterior_over_0.99": float(np.mean(posteriors.max(axis=1) > 0.99)),
        "spaces": spaces,
    }


def table(result: dict[str, Any]) -> str:
    """The spaces side by side, chance on the first line."""
    spaces = result["spaces"]
    first = next(iter(spaces.values()))
    columns = ("p@1", "p@5", "p@10", "exc@1", "rec@5", "hub")
    lines = [f"{'space':<52} {'dim':>3} " + " ".join(f"{c:>6}" for c in columns)]
    exc = first["excerpts"]
    lines.append(
        f"{'chance':<52} {'':>3} "
        + " ".join(f"{first[f'precision@{k}']['chance']:>6.3f}" for k in (1, 5, 10))
        + f" {exc['excerpt@1']['chance']:>6.3f} {exc['recall@5']['chance']:>6.3f}"
    )
    for name, space in spaces.items():
        hub = space.get("hubness", {}).get("k_occurrence_skewness")
        lines.append(
            f"{name:<52} {space['dim']:>3} "
            + " ".join(f"{space[f'precision@{k}']['value']:>6.3f}" for k in (1, 5, 10))
            + f" {space['excerpts']['excerpt@1']['value']:>6.3f}"
            + f" {space['excerpts']['recall@5']['value']:>6.3f}"
            + (f" {hub:>6.2f}" if hub is not None else f" {'':>6}")
        )
    return "\n".join(lines)


def main() -> None:
    """Analyse what is not cached, score every space, print the tables (and write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--cache", type=Path, help="feature cache (default: beside the corpus, -features)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the whole report here")
    parser.add_argument("--sound-only", action="store_true", help="leave the 57 features out")
    parser.add_argument(
        "--sound-models", type=Path, help="also score these <model>.onnx files (no recipes)"
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="only the tracks whose network outputs are cached already (a sample of the corpus)",
    )
    args = parser.parse_args()
    cache_dir = args.cache or args.corpus.with_name(f"{args.corpus.name}-features")
    patch_dir = args.corpus.with_name(f"{args.corpus.name}-patches")

    tracks = corpus_tracks(args.corpus)
    if args.cached_only:
        tracks = cached_tracks(tracks, patch_dir / "library", MODEL_DIR)
    started = time.perf_counter()
    tracks, patches, ran = load_patches(tracks, patch_dir / "library", workers=args.workers)
    print(
        f"{len(tracks)} tracks of {len({t.soundtrack for t in tracks})} soundtracks, "
        f"{sum(len(t.excerpts[MODELS[0]]) > 0 for t in patches)} of them >= {EXCERPT_MIN_S:g} s; "
        f"networks run on {ran}, {len(tracks) - ran} from {patch_dir}, "
        f"{time.perf_counter() - started:.1f} s"
    )
    features, scaler = None, None
    if not args.sound_only:
        with_features, features, analysed = load_features(tracks, cache_dir, workers=args.workers)
        print(f"features: {analysed} analysed, {len(with_features) - analysed} from {cache_dir}")
        # Every space is scored on the same tracks: those both caches could analyse.
        patches, tracks = results_of(tracks, patches, with_features), with_features
    groups = np.array([t.soundtrack for t in tracks])
    result: dict[str, Any] = {
        "corpus": {name: int(np.sum(groups == name)) for name in sorted(set(groups))}
    }
    if features is not None:
        with tempfile.TemporaryDirectory(prefix="soundalike-model-") as model_dir:
            # The former default metric (the GTZAN LDA) is opt-in now: ask for it; without its
            # projection it is the library's features space, fitted on the same bundled table.
            scaler = ensure_scaler(Path(model_dir), metric="lda")
        result["features"] = evaluate(features, groups, scaler)
        print(table(result["features"]))
        print(
            "default metric: top genre posterior above 0.99 for "
            f"{result['features']['default_top_posterior_over_0.99']:.0%} of the tracks"
        )
    result["sound"] = evaluate_sound(patches, groups, features=features, scaler=scaler)
    print(table(result["sound"]))
    if args.sound_models:
        other_tracks, other, _ = load_patches(
            tracks,
            patch_dir / args.sound_models.name,
            workers=args.workers,
            model_dir=args.sound_models,
        )
        result["sound_models"] = {
            "dir": str(args.sound_models),
            **evaluate_sound(other, np.array([t.soundtrack for t in other_tracks]), recipes=False),
        }
        print(f"models in {args.sound_models}:")
        print(table(result["sound_models"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
