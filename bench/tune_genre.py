"""Nested cross-validation of genre-model candidates on the artist-filtered GTZAN folds.

    PYTHONPATH=. python -m bench.tune_genre [--inner-splits 3] [--seed 0] [--xgb-only]

Choosing a model by its score on the 3 outer folds and then quoting that score is optimistic:
the folds both select and measure. Here each outer fold chooses among the candidates by
accuracy on artist-grouped inner folds of its own training songs only (StratifiedGroupKFold on
the split's artist ids), then fits the chosen one on the whole training side and scores it on
the held-out artists: accuracy, macro-F1 and ECE after temperature scaling. The temperature is
fitted on the chosen candidate's inner held-out predictions, so the test labels choose
nothing. Every candidate's outer score is printed too, but only the nested figure is an honest
estimate of the selection procedure.

Among all candidates (seeds 0 and 1: the inner folds' shuffle and XGBoost's subsampling), the
LDA-augmented trees soft-voted with the C=0.1 logistic regression were chosen in 4 of the 6
outer folds, and were the default for a while. XGBoost is the classifier by design, so
``--xgb-only`` chooses among XGBoost configurations only, all on the 57 features plus the LDA
directions (the blend is still scored, for reference). There, depth 3 with 400 trees at rate
0.05 and half the columns per tree was chosen in 3 of the 6 outer folds; it is
``indexer.model.genre_fitting.DEFAULT_PARAMS``. See the README for the figures.

Every fit uses one thread; with ``--xgb-only`` a run took 272-279 s wall (104 s CPU) with two
runs side by side on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

from indexer.model.calibration import apply_temperature, expected_calibration_error, fit_temperature
from indexer.model.genre_linear import fit_linear
from indexer.model.gtzan_table import (
    FeatureTable,
    artist_filter_folds,
    bundled_table_path,
    group_folds,
)
from indexer.model.gtzan_table import load_table as load_feature_table

# A base model maps (X_train, y_train, X_test, seed) to probabilities [shape=(n_test, 10)].
Base = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def _xgb(params: dict[str, Any]) -> Base:
    def run(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, seed: int) -> np.ndarray:
        model = xgb.XGBClassifier(**params, random_state=seed, n_jobs=1)
        model.fit(X, y)
        return np.asarray(model.predict_proba(X_test), dtype=np.float64)

    return run


def _xgb_lda(params: dict[str, Any]) -> Base:
    """Trees on the raw features plus the LDA directions, fitted on the training rows only."""
    fit = _xgb(params)

    def run(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, seed: int) -> np.ndarray:
        linear = fit_linear(X, y, C=None)  # LDA directions only
        return fit(linear.augment(X), y, linear.augment(X_test), seed)

    return run


def _logreg(C: float) -> Base:
    """Multinomial logistic regression on the metric's log-variance, standardized features."""

    def run(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, seed: int) -> np.ndarray:
        return fit_linear(X, y, C=C).predict_proba(X_test)

    return run


# The trees' settings before this comparison (indexer.model.genre_fitting's DEFAULT_PARAMS until
# then); the candidates below are fixed here, so changing DEFAULT_PARAMS does not change what is
# compared.
BASELINE: dict[str, Any] = {
    "n_estimators": 200,
    "max_depth": 4,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "tree_method": "hist",
}

# XGBoost on the 57 raw features plus the LDA directions, with different hyperparameters. The
# tree counts are capped at 400 so that `soundalike evaluate`, which refits per fold, stays fast.
XGB_LDA_PARAMS: dict[str, dict[str, Any]] = {
    "xgb + LDA directions": BASELINE,
    "xgb+LDA depth 2, 400 trees, rate 0.1": {**BASELINE, "max_depth": 2, "n_estimators": 400},
    "xgb+LDA depth 3, 300 trees, rate 0.05": {
        **BASELINE,
        "max_depth": 3,
        "n_estimators": 300,
        "learning_rate": 0.05,
    },
    "xgb+LDA depth 3, 400 trees, rate 0.05, cols 0.5": {
        **BASELINE,
        "max_depth": 3,
        "n_estimators": 400,
        "learning_rate": 0.05,
        "colsample_bytree": 0.5,
    },
    "xgb+LDA depth 4, 300 trees, rate 0.05, cols 0.5": {
        **BASELINE,
        "n_estimators": 300,
        "learning_rate": 0.05,
        "colsample_bytree": 0.5,
    },
    "xgb+LDA depth 4, min_child_weight 3, lambda 5": {
        **BASELINE,
        "min_child_weight": 3,
        "reg_lambda": 5.0,
    },
    "xgb+LDA depth 3, 300 trees, rate 0.05, cols 0.5, mcw 3, lambda 5": {
        **BASELINE,
        "max_depth": 3,
        "n_estimators": 300,
        "learning_rate": 0.05,
        "colsample_bytree": 0.5,
        "min_child_weight": 3,
        "reg_lambda": 5.0,
    },
}

BASES: dict[str, Base] = {
    "xgb alone (depth 4, 200 trees, rate 0.1)": _xgb(BASELINE),
    "xgb depth 2, 400 trees, rate 0.1": _xgb({**BASELINE, "max_depth": 2, "n_estimators": 400}),
    "xgb depth 3, 400 trees, rate 0.05": _xgb(
        {**BASELINE, "max_depth": 3, "n_estimators": 400, "learning_rate": 0.05}
    ),
    **{name: _xgb_lda(params) for name, params in XGB_LDA_PARAMS.items()},
    "logreg C=0.1": _logreg(0.1),
    "logreg C=1": _logreg(1.0),
}
# The model before the blend was adopted, and the blend (the default before XGBoost alone on
# the LDA-augmented inputs became it again).
PREVIOUS = next(iter(BASES))
BLEND = "vote xgb+LDA + logreg C=0.1"
# Soft votes: the mean of two bases' probabilities, computed from the bases' own predictions.
VOTES: dict[str, tuple[str, str]] = {
    "vote xgb alone + logreg C=0.1": (PREVIOUS, "logreg C=0.1"),
    "vote xgb alone + logreg C=1": (PREVIOUS, "logreg C=1"),
    BLEND: ("xgb + LDA directions", "logreg C=0.1"),
}
ALL_CANDIDATES = [*BASES, *VOTES]
# --xgb-only: the classifier must be XGBoost, so only the trees on 57 + LDA inputs compete.
XGB_ONLY_CANDIDATES = list(XGB_LDA_PARAMS)


def _predict_all(
    X: np.ndarray, y: np.ndarray, X_test: np.ndarray, *, names: list[str], seed: int
) -> dict[str, np.ndarray]:
    """Probabilities of the candidates ``names`` for ``X_test`` after fitting on ``(X, y)``.

    A vote in ``names`` needs both of its bases in ``names`` too (see `_computed`).
    """
    out = {name: BASES[name](X, y, X_test, seed) for name in names if name in BASES}
    for name in names:
        if name in VOTES:
            a, b = VOTES[name]
            out[name] = (out[a] + out[b]) / 2
    return out


def _computed(candidates: list[str]) -> list[str]:
    """The candidates, plus the blend for reference and every base a vote among them needs."""
    wanted = [*candidates, *([BLEND] if BLEND not in candidates else [])]
    names: list[str] = []
    for name in wanted:
        for part in (*VOTES.get(name, ()), name):
            if part not in names:
                names.append(part)
    return names


def _scores(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    predicted = p.argmax(axis=1)
    return {
        "accuracy": float(np.mean(predicted == y)),
        "macro_f1": float(f1_score(y, predicted, labels=range(p.shape[1]), average="macro")),
        "ece": expected_calibration_error(p, y),
    }


def nested(
    table: FeatureTable, *, inner_splits: int, seed: int, candidates: list[str]
) -> dict[str, Any]:
    """Per outer fold: inner accuracy of each model, the choice among ``candidates``, and
    outer scores. The blend is scored too, for reference, but chosen only if a candidate."""
    names = _computed(candidates)
    classes = np.unique(table.labels)
    y_all = np.searchsorted(classes, table.labels)
    folds = []
    for k, outer in enumerate(artist_filter_folds(table), start=1):
        started = time.perf_counter()
        X, y = table.X[outer.train], y_all[outer.train]
        inner = group_folds(
            table.labels[outer.train], outer.train_groups, n_splits=inner_splits, seed=seed
        )
        inner_acc: dict[str, list[float]] = {name: [] for name in names}
        inner_oof = {name: np.zeros((len(y), len(classes))) for name in names}
        for fold in inner:
            predicted = _predict_all(
                X[fold.train], y[fold.train], X[fold.test], names=names, seed=seed
            )
            for name, p in predicted.items():
                inner_oof[name][fold.test] = p
                inner_acc[name].append(float(np.mean(p.argmax(axis=1) == y[fold.test])))
        inner_mean = {name: float(np.mean(v)) for name, v in inner_acc.items()}
        chosen = max(candidates, key=lambda name: inner_mean[name])
        test_y = y_all[outer.test]
        outer_p = _predict_all(X, y, table.X[outer.test], names=names, seed=seed)
        outer_scores = {}
        calibrated = {}
        for name, p in outer_p.items():
            temperature = fit_temperature(inner_oof[name], y)
            calibrated[name] = apply_temperature(p, temperature)
            outer_scores[name] = {
                **_scores(calibrated[name], test_y),
                "ece_uncalibrated": expected_calibration_error(p, test_y),
                "temperature": temperature,
            }
        folds.append(
            {
                "fold": k,
                "inner": inner_mean,
                "chosen": chosen,
                "outer": outer_scores,
                "calibrated": calibrated,
                "test_y": test_y,
                "seconds": time.perf_counter() - started,
            }
        )
    return {"folds": folds, "names": names, "candidates": candidates}


def _mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def report(result: dict[str, Any]) -> None:
    """Print inner scores, choices and outer scores."""
    folds = result["folds"]
    names = result["names"]
    width = max(len(name) for name in names)
    print("Inner accuracy (artist-grouped folds of each outer training side):")
    print(f"  {'model':<{width}}  " + "  ".join(f"fold {f['fold']}" for f in folds))
    for name in names:
        mark = "" if name in result["candidates"] else " (reference, not a candidate)"
        cells = "  ".join(
            f"{f['inner'][name]:.3f}" + ("*" if f["chosen"] == name else " ") for f in folds
        )
        print(f"  {name:<{width}}  {cells}{mark}")
    print("  (* chosen on that fold)")
    print()
    print("Outer scores of every model (artist-filtered folds; not a selection-free figure):")
    print(f"  {'model':<{width}}  accuracy        macro-F1        ECE (T from inner)")
    for name in names:
        acc = [f["outer"][name]["accuracy"] for f in folds]
        f1 = [f["outer"][name]["macro_f1"] for f in folds]
        ece = [f["outer"][name]["ece"] for f in folds]
        print(f"  {name:<{width}}  {_mean_std(acc)}  {_mean_std(f1)}  {_mean_std(ece)}")
    print()
    print("Nested (chosen on inner folds, scored once on the outer fold):")
    for f in folds:
        s = f["outer"][f["chosen"]]
        print(
            f"  fold {f['fold']}: {f['chosen']}: accuracy {s['accuracy']:.3f}, "
            f"macro-F1 {s['macro_f1']:.3f}, "
            f"ECE {s['ece_uncalibrated']:.3f} -> {s['ece']:.3f} (T {s['temperature']:.2f}); "
            f"{f['seconds']:.0f} s"
        )
    chosen = [f["outer"][f["chosen"]] for f in folds]
    pooled_p = np.vstack([f["calibrated"][f["chosen"]] for f in folds])
    pooled_y = np.concatenate([f["test_y"] for f in folds])
    print(
        f"  nested accuracy {_mean_std([s['accuracy'] for s in chosen])}, "
        f"macro-F1 {_mean_std([s['macro_f1'] for s in chosen])}, "
        f"ECE per fold {_mean_std([s['ece'] for s in chosen])}, "
        f"pooled {expected_calibration_error(pooled_p, pooled_y):.3f}"
    )
    for f in folds:
        params = XGB_LDA_PARAMS.get(f["chosen"])
        if params is not None:
            print(f"  fold {f['fold']} chose {json.dumps(params, sort_keys=True)}")
    references = (("xgb alone", PREVIOUS), ("blend", BLEND), ("xgb+LDA", "xgb + LDA directions"))
    for label, name in references:
        if name not in names:
            continue
        scores = [f["outer"][name] for f in folds]
        p = np.vstack([f["calibrated"][name] for f in folds])
        print(
            f"  {label} ({name}), same run: "
            f"accuracy {_mean_std([s['accuracy'] for s in scores])}, "
            f"ECE per fold {_mean_std([s['ece'] for s in scores])}, "
            f"pooled {expected_calibration_error(p, pooled_y):.3f}"
        )


def main() -> None:
    """Run the nested cross-validation on the bundled table and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inner-splits", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--xgb-only",
        action="store_true",
        help="Choose only among XGBoost on the 57 features + LDA directions (the blend is "
        "still scored, for reference).",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    cpu_started = time.process_time()
    table = load_feature_table(bundled_table_path())
    candidates = XGB_ONLY_CANDIDATES if args.xgb_only else ALL_CANDIDATES
    # One BLAS thread too: the machine is shared, and the fits are small.
    with threadpool_limits(limits=1):
        result = nested(
            table, inner_splits=args.inner_splits, seed=args.seed, candidates=candidates
        )
    report(result)
    print(
        f"\n{time.perf_counter() - started:.0f} s wall, "
        f"{time.process_time() - cpu_started:.0f} s CPU (one thread per fit)"
    )


if __name__ == "__main__":
    main()
