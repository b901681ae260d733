"""Training the genre model: the final fit, its cross-validation beside it, calibration, saving.

The trees are fitted on the training rows of each fold of `evaluation_splits`
(`indexer.model.genre_cross_validation`), their held-out probabilities give the temperature and
the scores stored with the model, and a final fit on every row is the model itself
(`indexer.model.genre`). All those fits run side by side (`indexer.model.genre_fitting`).
`ensure_genre_model` trains one on the bundled GTZAN table the first time it is needed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.model.genre import (
    META_FILENAME,
    GenreModel,
    load_genre_model,
    save_genre_model,
)
from indexer.model.genre_cross_validation import (
    evaluation_splits,
    final_temperature,
    fold_scores,
    out_of_fold_in_pool,
)
from indexer.model.genre_fitting import (
    DEFAULT_PARAMS,
    FitCounter,
    FitProgress,
    fit_genre,
    fit_pool,
)
from indexer.model.genre_linear import LOGREG_C
from indexer.model.gtzan_table import FeatureTable, bundled_table_path, load_table
from indexer.model.scaler import locked

log = logging.getLogger(__name__)


def train_genre_model(
    table: FeatureTable,
    *,
    evaluate: bool = True,
    seed: int = 0,
    n_jobs: int | None = None,
    blend_linear: bool = False,
    progress: FitProgress | None = None,
) -> GenreModel:
    """Fit the classifier on every row of ``table``; with ``evaluate``, also cross-validate it.

    ``n_jobs`` is how many fits run at once, one thread each; None uses every core.
    ``blend_linear`` averages the trees' probabilities with a logistic regression's (opt-in; by
    default XGBoost is the classifier and no logistic regression is fitted). ``progress`` hears
    of every fit (the final one and one per fold), from the pool's threads.
    """
    params = dict(DEFAULT_PARAMS)
    started = time.perf_counter()
    splits = evaluation_splits(table, seed=seed) if evaluate else {}
    counter = FitCounter(1 + sum(len(folds) for folds in splits.values()), progress)
    with fit_pool(n_jobs) as pool:
        final = pool.submit(
            fit_genre, table.X, table.labels, params=params, seed=seed, blend_linear=blend_linear
        )
        counter.watch(final)
        predictions = (
            out_of_fold_in_pool(
                pool,
                table,
                params=params,
                seed=seed,
                blend_linear=blend_linear,
                splits=splits,
                counter=counter,
            )
            if evaluate
            else {}
        )
        fitted = final.result()
    scores = fold_scores(table, predictions)
    temperature = final_temperature(table, predictions)
    log.info("trained genre model on %d songs in %.1f s", len(table), time.perf_counter() - started)
    identity = json.dumps(
        {
            "table": table.sha256,
            "params": params,
            "seed": seed,
            "calibration": "temperature",
            # The blend and the trees alone must never share a version (the library relabels
            # songs when the version changes).
            "linear": {"kind": "lda+logreg", "C": LOGREG_C} if blend_linear else {"kind": "lda"},
        },
        sort_keys=True,
    )
    return GenreModel(
        classifier=fitted.classifier,
        classes=fitted.classes,
        feature_names=tuple(FEATURE_NAMES),
        version="xgb-" + hashlib.sha256(identity.encode()).hexdigest()[:12],
        table_sha256=table.sha256,
        scores=scores,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        params={**params, "seed": seed, **({"logreg_C": LOGREG_C} if blend_linear else {})},
        temperature=temperature,
        linear=fitted.linear,
    )


def ensure_genre_model(
    model_dir: Path, *, table_path: Path | None = None, progress: FitProgress | None = None
) -> GenreModel:
    """Load the model in ``model_dir``; on first need train it (with evaluation) and save it.

    Trains on ``table_path``, or the bundled GTZAN table; ``progress`` hears of the training's
    fits, and is never called when a saved model is loaded. A lock file serializes concurrent
    callers, so two processes starting together train once and both get the same model. A
    present but corrupt model raises `ModelError` instead of being retrained silently.
    """
    model_dir = Path(model_dir)
    with locked(model_dir / ".genre_model.lock"):
        if (model_dir / META_FILENAME).exists():
            return load_genre_model(model_dir)
        path = bundled_table_path() if table_path is None else Path(table_path)
        log.info("no genre model in %s; training one on %s", model_dir, path)
        model = train_genre_model(load_table(path), evaluate=True, progress=progress)
        save_genre_model(model, model_dir)
        return model
