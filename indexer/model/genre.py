"""Genre classifier: XGBoost, with probabilities calibrated by one temperature.

Trees split on thresholds, so their input is the 57 raw (unscaled) features plus the 9 LDA
directions of the log-variance, standardized features (see `indexer.model.genre_linear`): feature
engineering fitted on the training rows only. XGBoost is the classifier by design; averaging
its probabilities with a logistic regression's scored within fold noise of the trees alone and
is kept as an opt-in (``blend_linear``, ``soundalike train --blend-linear``). The trees'
hyperparameters were chosen by nested cross-validation over artist-grouped inner folds
(``bench/tune_genre.py --xgb-only``). The model is trained on the bundled GTZAN table the first
time it is needed, and its cross-validated accuracy is stored with it: on the artist-filtered
split it is about 0.55 over 10 genres, far below the 0.75 a random split suggests, and the
service should present genres with that in mind.

This module holds the fitted model, its predictions and its files; training is
`indexer.model.genre_training`, one fit `indexer.model.genre_fitting`, cross-validation and
calibration `indexer.model.genre_cross_validation`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.errors import ModelError
from indexer.files import atomic_path
from indexer.model.calibration import apply_temperature
from indexer.model.genre_labels import UNCERTAIN, UNCERTAIN_BELOW
from indexer.model.genre_linear import LinearPart
from indexer.model.scaler import as_feature_matrix

BOOSTER_FILENAME = "genre_model.json"
META_FILENAME = "genre_model.meta.json"
_FORMAT = "soundalike-genre-model"
# Format 1: XGBoost alone on the 57 features. Format 2 adds the linear part, always with the
# logistic regression (the blend). Format 3 lets the linear part have no logistic regression
# (``coef`` null): XGBoost on the features and LDA directions, alone.
_FORMAT_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)


@dataclass
class GenrePrediction:
    """The most likely genre of one song, with every genre's probability.

    ``label`` is ``"uncertain"`` when ``confidence`` (the top probability) is below the model's
    threshold; ``top`` then says which genres it hesitates between.
    """

    label: str
    confidence: float
    probabilities: dict[str, float]
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass(eq=False)
class GenreModel:
    """A fitted classifier with what is needed to trust and reproduce it.

    Attributes
    ----------
    classifier : xgboost.XGBClassifier
        Predicts class indices into ``classes``, from ``linear.augment`` of the features (or
        the features alone when ``linear`` is None).
    classes : list[str]
        Genre labels, sorted; column order of `predict_proba`.
    feature_names : tuple[str, ...]
        Input column order, ``FEATURE_NAMES``.
    version : str
        ``"xgb-"`` and a short hash of the training table and hyperparameters.
    table_sha256 : str
        Hash of the training table file.
    scores : dict
        Cross-validated accuracy per split (see `cross_validate_genre`); empty if not evaluated.
    trained_at : str
        ISO 8601 UTC time of training.
    params : dict
        XGBoost hyperparameters and seed.
    temperature : float
        Divides the log-probabilities (1: uncalibrated); fitted on artist-held-out predictions.
    uncertain_below : float
        Top probability under which the label is ``"uncertain"``.
    linear : LinearPart or None
        LDA directions for the trees and, with ``blend_linear`` (and in every format-2 model), a
        logistic regression whose probabilities are averaged with theirs; None in models saved
        before it (format 1).
    """

    classifier: xgb.XGBClassifier
    classes: list[str]
    feature_names: tuple[str, ...]
    version: str
    table_sha256: str
    scores: dict[str, Any]
    trained_at: str
    params: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    uncertain_below: float = UNCERTAIN_BELOW
    linear: LinearPart | None = None

    def predict_proba(self, raw: np.ndarray) -> np.ndarray:
        """Genre probabilities of songs.

        Parameters
        ----------
        raw : np.ndarray [shape=(57,) or (n, 57)]
            Unscaled features in ``FEATURE_NAMES`` order.

        Returns
        -------
        np.ndarray [shape=(n, n_classes)]
            float64 rows summing to 1, columns in ``classes`` order.
        """
        X = as_feature_matrix(raw)
        if X.shape[0] == 0:
            return np.zeros((0, len(self.classes)))
        return apply_temperature(blend_proba(self.classifier, self.linear, X), self.temperature)

    def predict(self, raw: np.ndarray) -> list[GenrePrediction]:
        """The most likely genre of each song in ``raw`` [shape=(57,) or (n, 57)]."""
        predictions = []
        for row in self.predict_proba(raw):
            order = np.argsort(-row, kind="stable")
            best = int(order[0])
            confidence = float(row[best])
            predictions.append(
                GenrePrediction(
                    label=self.classes[best] if confidence >= self.uncertain_below else UNCERTAIN,
                    confidence=confidence,
                    probabilities={c: float(p) for c, p in zip(self.classes, row, strict=True)},
                    top=[(self.classes[i], float(row[i])) for i in order[:3]],
                )
            )
        return predictions


def blend_proba(
    classifier: xgb.XGBClassifier, linear: LinearPart | None, X: np.ndarray
) -> np.ndarray:
    """Uncalibrated probabilities [shape=(n, n_fitted_classes)], float64.

    The trees' own, unless ``linear`` carries a logistic regression: then the mean of both.
    """
    if linear is None:
        return np.asarray(classifier.predict_proba(X), dtype=np.float64)
    trees = np.asarray(classifier.predict_proba(linear.augment(X)), dtype=np.float64)
    if not linear.has_logreg:
        return trees
    return (trees + linear.predict_proba(X)) / 2


def save_genre_model(model: GenreModel, model_dir: Path) -> None:
    """Write the booster (XGBoost JSON) then ``genre_model.meta.json``, each atomically.

    The metadata is written last and records the booster's hash, so it is the commit point: a
    crash (or a reader) between the two writes finds no model, or a hash mismatch that
    `load_genre_model` reports, never a booster paired with the wrong classes.
    """
    model_dir = Path(model_dir)
    with atomic_path(model_dir / BOOSTER_FILENAME) as tmp:
        model.classifier.save_model(str(tmp))
        booster_sha256 = hashlib.sha256(tmp.read_bytes()).hexdigest()
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "version": model.version,
        "classes": model.classes,
        "feature_names": list(model.feature_names),
        "table_sha256": model.table_sha256,
        "scores": model.scores,
        "trained_at": model.trained_at,
        "params": model.params,
        "temperature": model.temperature,
        "uncertain_below": model.uncertain_below,
        "xgboost_version": xgb.__version__,
        "booster_file": BOOSTER_FILENAME,
        "booster_sha256": booster_sha256,
        "linear": None if model.linear is None else model.linear.to_json(),
    }
    with atomic_path(model_dir / META_FILENAME) as tmp:
        tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def load_genre_model(model_dir: Path) -> GenreModel:
    """Read a model written by `save_genre_model`; `ModelError` if missing or corrupt."""
    model_dir = Path(model_dir)
    meta_path = model_dir / META_FILENAME
    booster_path = model_dir / BOOSTER_FILENAME
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{meta_path}: genre model is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{meta_path}: genre model metadata is unreadable: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ModelError(f"{meta_path}: not a soundalike genre model")
    if meta.get("format_version") not in _READABLE_VERSIONS:
        raise ModelError(f"{meta_path}: unsupported format {meta.get('format_version')!r}")
    if meta.get("feature_names") != list(FEATURE_NAMES):
        raise ModelError(f"{meta_path}: genre model was trained on different feature names")
    classes = meta.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ModelError(f"{meta_path}: genre model metadata has no class list")
    linear = None
    if meta.get("linear") is not None:
        try:
            # Format 2 always had the logistic regression; only format 3 may leave it out.
            linear = LinearPart.from_json(
                meta["linear"],
                n_classes=len(classes),
                require_logreg=meta["format_version"] < 3,
            )
        except ModelError as exc:
            raise ModelError(f"{meta_path}: {exc}") from exc
    try:
        data = booster_path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{booster_path}: genre model booster is unreadable: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != meta.get("booster_sha256"):
        raise ModelError(f"{booster_path}: booster does not match {META_FILENAME} (corrupt?)")
    classifier = xgb.XGBClassifier(n_jobs=1)
    try:
        # Load the bytes that were hashed, not the path, so the file cannot change in between.
        classifier.load_model(bytearray(data))
    except (xgb.core.XGBoostError, ValueError) as exc:
        raise ModelError(f"{booster_path}: XGBoost cannot load the booster: {exc}") from exc
    booster = classifier.get_booster()
    n_inputs = len(FEATURE_NAMES) + (0 if linear is None else linear.n_directions)
    if booster.num_features() != n_inputs or classifier.n_classes_ != len(classes):
        raise ModelError(f"{booster_path}: booster shape does not match its metadata")
    try:
        return GenreModel(
            classifier=classifier,
            classes=classes,
            feature_names=tuple(meta["feature_names"]),
            version=str(meta["version"]),
            table_sha256=str(meta["table_sha256"]),
            scores=dict(meta["scores"]),
            trained_at=str(meta["trained_at"]),
            params=dict(meta.get("params") or {}),
            temperature=float(meta.get("temperature", 1.0)),
            uncertain_below=float(meta.get("uncertain_below", UNCERTAIN_BELOW)),
            linear=linear,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{meta_path}: genre model metadata is incomplete: {exc!r}") from exc
