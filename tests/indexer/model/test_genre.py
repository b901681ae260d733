"""The genre model (XGBoost on the features and LDA directions) trained on the bundled table,
once per session, and the opt-in blend with a logistic regression.

Training with evaluation takes about 30-45 s on 2 busy cores.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

import indexer.model.genre_linear
from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.errors import ModelError
from indexer.model.calibration import apply_temperature
from indexer.model.genre import (
    BOOSTER_FILENAME,
    META_FILENAME,
    GenreModel,
    load_genre_model,
    save_genre_model,
)
from indexer.model.genre_cross_validation import evaluation_splits
from indexer.model.genre_linear import LinearPart
from indexer.model.genre_training import ensure_genre_model, train_genre_model
from indexer.model.gtzan_table import FeatureTable, bundled_table_path, load_table


@pytest.fixture(scope="session")
def table() -> FeatureTable:
    return load_table(bundled_table_path())


@pytest.fixture(scope="session")
def model(table: FeatureTable) -> GenreModel:
    return train_genre_model(table, evaluate=True, seed=0)


@pytest.fixture(scope="session")
def blend(table: FeatureTable) -> GenreModel:
    # One fit, no cross-validation: enough to check what the blend computes and stores.
    return train_genre_model(table, evaluate=False, seed=0, blend_linear=True)


def assert_same_probabilities(actual: np.ndarray, expected: np.ndarray) -> None:
    """One model's probabilities computed twice, equal to float64 rounding.

    Not bit for bit: the linear part's matrix products go through BLAS, whose summation order
    changes with the processor, the thread count and the arrays' memory layout (a fitted
    ``coef`` is Fortran-ordered, a loaded one C-ordered; 3e-16 apart on some processors), and
    BLAS does not promise the same bits from one call to the next.
    """
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


@pytest.fixture
def saved(tmp_path: Path, model: GenreModel) -> Path:
    save_genre_model(model, tmp_path)
    return tmp_path


@pytest.fixture
def saved_blend(tmp_path: Path, blend: GenreModel) -> Path:
    save_genre_model(blend, tmp_path)
    return tmp_path


def test_cross_validated_accuracy_shows_artist_effect(model: GenreModel) -> None:
    artist = model.scores["artist_filter"]
    stratified = model.scores["stratified_kfold"]
    assert artist["n_splits"] == 3
    assert stratified["n_splits"] == 5
    # Measured: 0.55 on other artists' songs, 0.76 when artists repeat across folds.
    assert 0.40 < artist["accuracy_mean"] < 0.70
    assert stratified["accuracy_mean"] > artist["accuracy_mean"] + 0.1
    assert 0 < artist["accuracy_std"] < 0.1
    assert len(artist["accuracy"]) == 3


def test_scores_carry_the_ece_noise_floor(model: GenreModel) -> None:
    artist = model.scores["artist_filter"]
    # A calibrated model on ~315 songs per fold still shows an ECE near 0.05; pooled over the
    # 948 songs near 0.03 (measured by label draws). The floor shrinks with more songs.
    assert 0.03 < artist["ece_floor_mean"] < 0.08
    assert 0.015 < artist["ece_pooled_floor"] < 0.05
    assert artist["ece_pooled_floor"] < artist["ece_floor_mean"]
    assert 0 <= artist["ece_pooled"] < 0.15


def test_model_metadata(model: GenreModel, table: FeatureTable) -> None:
    assert model.classes == sorted(set(table.labels.tolist()))
    assert len(model.classes) == 10
    assert model.feature_names == FEATURE_NAMES
    assert model.version.startswith("xgb-")
    assert model.table_sha256 == table.sha256
    assert model.trained_at.endswith("+00:00")
    json.dumps(model.scores)


def test_predictions_fit_the_training_songs(model: GenreModel, table: FeatureTable) -> None:
    proba = model.predict_proba(table.X)
    assert proba.shape == (1000, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    predicted = np.asarray(model.classes)[proba.argmax(axis=1)]
    assert np.mean(predicted == table.labels) > 0.95


def test_predict_one_song(model: GenreModel, table: FeatureTable) -> None:
    i = table.filenames.index("metal.00000.wav")
    [prediction] = model.predict(table.X[i])
    assert prediction.label == "metal"
    assert set(prediction.probabilities) == set(model.classes)
    assert prediction.confidence == max(prediction.probabilities.values())
    assert prediction.probabilities["metal"] == prediction.confidence


def test_probabilities_are_calibrated_on_held_out_artists(model: GenreModel) -> None:
    # Trees are over-confident on unseen artists, so the fitted temperature softens (T > 1).
    assert 1.0 < model.temperature < 3.0
    honest = model.scores["artist_filter"]
    assert 0 <= honest["ece_mean"] < 0.15


def test_low_confidence_is_uncertain_with_top_3(model: GenreModel, table: FeatureTable) -> None:
    # A blend of a classical and a metal song sits between genres.
    blend = (
        table.X[table.filenames.index("classical.00000.wav")]
        + table.X[table.filenames.index("metal.00000.wav")]
    ) / 2
    sure = GenreModel(**{**model.__dict__, "uncertain_below": 0.0}).predict(blend)[0]
    unsure = GenreModel(**{**model.__dict__, "uncertain_below": 1.0}).predict(blend)[0]
    assert sure.label in model.classes
    assert unsure.label == "uncertain"
    assert unsure.confidence == pytest.approx(sure.confidence, rel=1e-12)  # two predictions
    assert len(unsure.top) == 3
    assert unsure.top[0] == (sure.label, pytest.approx(sure.confidence, rel=1e-12))
    assert [p for _, p in unsure.top] == sorted((p for _, p in unsure.top), reverse=True)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_input_raises(model: GenreModel, table: FeatureTable, value: float) -> None:
    X = table.X[:2].copy()
    X[1, 0] = value
    with pytest.raises(ModelError, match="non-finite"):
        model.predict(X)


def test_save_load_round_trip(saved: Path, model: GenreModel, table: FeatureTable) -> None:
    loaded = load_genre_model(saved)
    assert_same_probabilities(loaded.predict_proba(table.X), model.predict_proba(table.X))
    assert [p.label for p in loaded.predict(table.X[:5])] == [
        p.label for p in model.predict(table.X[:5])
    ]
    assert loaded.classes == model.classes
    assert loaded.version == model.version
    assert loaded.scores == model.scores
    assert loaded.trained_at == model.trained_at
    assert loaded.table_sha256 == model.table_sha256
    # XGBoost's own JSON format, not a pickle.
    assert json.loads((saved / BOOSTER_FILENAME).read_bytes())["learner"]
    meta = json.loads((saved / META_FILENAME).read_text())
    assert meta["classes"] == model.classes
    assert meta["temperature"] == model.temperature
    assert meta["uncertain_below"] == model.uncertain_below
    assert loaded.temperature == model.temperature
    assert loaded.linear is not None
    assert model.linear is not None
    np.testing.assert_array_equal(loaded.linear.scalings, model.linear.scalings)  # from JSON
    # Format 3: the LDA directions without a logistic regression.
    assert meta["format_version"] == 3
    assert meta["linear"]["kind"] == "lda+logreg"
    assert meta["linear"]["coef"] is None
    assert meta["linear"]["intercept"] is None
    assert not loaded.linear.has_logreg
    assert sorted(p.name for p in saved.iterdir()) == [BOOSTER_FILENAME, META_FILENAME]


def test_default_model_is_xgboost_alone(model: GenreModel, table: FeatureTable) -> None:
    assert model.linear is not None
    assert not model.linear.has_logreg
    assert model.linear.coef is None
    assert "logreg_C" not in model.params
    with pytest.raises(ModelError, match="no logistic regression"):
        model.linear.predict_proba(table.X[:2])
    # The probabilities are the trees' on the features + LDA directions, temperature-scaled.
    trees = model.classifier.predict_proba(model.linear.augment(table.X)).astype(np.float64)
    np.testing.assert_allclose(
        model.predict_proba(table.X), apply_temperature(trees, model.temperature), rtol=1e-12
    )


def test_default_training_fits_no_logistic_regression(
    table: FeatureTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a logistic regression was fitted")

    monkeypatch.setattr(indexer.model.genre_linear, "LogisticRegression", refuse)
    model = train_genre_model(table, evaluate=False, seed=0)
    assert model.linear is not None
    assert not model.linear.has_logreg
    with pytest.raises(AssertionError, match="logistic regression was fitted"):
        train_genre_model(table, evaluate=False, seed=0, blend_linear=True)


def test_blend_is_the_mean_of_trees_and_logistic_regression(
    blend: GenreModel, model: GenreModel, table: FeatureTable
) -> None:
    assert blend.linear is not None
    assert blend.linear.has_logreg
    assert blend.params["logreg_C"] == 0.1
    assert blend.temperature == 1.0  # not evaluated, so not calibrated
    trees = blend.classifier.predict_proba(blend.linear.augment(table.X)).astype(np.float64)
    expected = (trees + blend.linear.predict_proba(table.X)) / 2
    # apply_temperature with T = 1 only renormalizes, to float64 rounding of float32 trees.
    np.testing.assert_allclose(blend.predict_proba(table.X), expected, rtol=1e-6)
    # Same table, parameters and seed, other model: the version must say so.
    assert blend.version != model.version
    assert blend.version != train_genre_model(table, evaluate=False, seed=0).version


def test_blend_round_trips(saved_blend: Path, blend: GenreModel, table: FeatureTable) -> None:
    meta = json.loads((saved_blend / META_FILENAME).read_text())
    assert meta["format_version"] == 3
    assert len(meta["linear"]["coef"]) == 10
    loaded = load_genre_model(saved_blend)
    assert loaded.linear is not None
    assert loaded.linear.has_logreg
    assert blend.linear is not None
    np.testing.assert_array_equal(loaded.linear.coef, blend.linear.coef)  # JSON keeps every bit
    assert_same_probabilities(loaded.predict_proba(table.X), blend.predict_proba(table.X))
    assert loaded.version == blend.version


def test_format_2_model_loads_as_the_blend(
    saved_blend: Path, blend: GenreModel, table: FeatureTable
) -> None:
    # Data dirs trained before format 3 hold the blend under format 2, with the same layout.
    meta = json.loads((saved_blend / META_FILENAME).read_text())
    meta["format_version"] = 2
    (saved_blend / META_FILENAME).write_text(json.dumps(meta))
    loaded = load_genre_model(saved_blend)
    assert loaded.linear is not None
    assert loaded.linear.has_logreg
    assert_same_probabilities(loaded.predict_proba(table.X), blend.predict_proba(table.X))


def test_format_2_model_without_logistic_regression_raises(saved: Path) -> None:
    # Format 2 always had the logistic regression: a null one there is a corrupt file.
    meta = json.loads((saved / META_FILENAME).read_text())
    meta["format_version"] = 2
    (saved / META_FILENAME).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="corrupt"):
        load_genre_model(saved)


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        (BOOSTER_FILENAME, b"{not json", "does not match"),
        (BOOSTER_FILENAME, b"", "does not match"),
        (META_FILENAME, b"{", "unreadable"),
        (META_FILENAME, b'{"format": "other"}', "not a soundalike genre model"),
    ],
)
def test_corrupt_files_raise(saved: Path, filename: str, content: bytes, message: str) -> None:
    (saved / filename).write_bytes(content)
    with pytest.raises(ModelError, match=message):
        load_genre_model(saved)


def test_booster_that_xgboost_cannot_read_raises(saved: Path) -> None:
    # Consistent hash, broken content: XGBoost's own loader must be the one to refuse it.
    content = b'{"learner": 1}'
    meta = json.loads((saved / META_FILENAME).read_text())
    meta["booster_sha256"] = hashlib.sha256(content).hexdigest()
    (saved / BOOSTER_FILENAME).write_bytes(content)
    (saved / META_FILENAME).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="XGBoost cannot load"):
        load_genre_model(saved)


@pytest.mark.parametrize("missing", [BOOSTER_FILENAME, META_FILENAME])
def test_missing_files_raise(saved: Path, missing: str) -> None:
    (saved / missing).unlink()
    with pytest.raises(ModelError):
        load_genre_model(saved)


def test_ensure_loads_an_existing_model(saved: Path, model: GenreModel) -> None:
    assert ensure_genre_model(saved).trained_at == model.trained_at


def test_ensure_trains_once_on_a_grouped_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 10 songs per genre with an artist column: small enough to train in a few seconds.
    with open(bundled_table_path(), newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    small = [row + [f"artist{n // 3}"] for n, row in enumerate(body) if n % 100 < 10]
    table_path = tmp_path / "small.csv"
    with open(table_path, "w", newline="") as handle:
        csv.writer(handle).writerows([header + ["group"], *small])
    model_dir = tmp_path / "model"
    caplog.set_level(logging.INFO, logger="indexer.model.genre_training")

    # Two callers at once: the lock makes one train and the other load its result.
    with ThreadPoolExecutor(max_workers=2) as pool:
        models = list(
            pool.map(lambda _: ensure_genre_model(model_dir, table_path=table_path), range(2))
        )
    assert [r.message for r in caplog.records].count(
        f"no genre model in {model_dir}; training one on {table_path}"
    ) == 1
    assert models[0].trained_at == models[1].trained_at
    assert models[0].version == models[1].version
    assert set(models[0].scores) == {"group_kfold", "stratified_kfold"}
    assert len(models[0].classes) == 10
    assert (model_dir / META_FILENAME).exists()


def test_linear_part_is_a_probability_and_feeds_the_trees(
    blend: GenreModel, table: FeatureTable
) -> None:
    model = blend
    linear = model.linear
    assert isinstance(linear, LinearPart)
    assert linear.n_directions == 9  # 10 genres
    p = linear.predict_proba(table.X)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # On its own training songs the logistic regression is right far above chance (0.1).
    assert np.mean(p.argmax(axis=1) == np.searchsorted(model.classes, table.labels)) > 0.6
    assert linear.augment(table.X).shape == (1000, 57 + 9)
    assert model.classifier.get_booster().num_features() == 57 + 9
    # Silence has variances of exactly 0: clamped, not -inf.
    silence = model.predict_proba(np.zeros((1, 57)))
    assert np.isfinite(silence).all()
    np.testing.assert_allclose(silence.sum(), 1.0)


def test_format_1_model_without_linear_part_still_loads(
    tmp_path: Path, model: GenreModel, table: FeatureTable
) -> None:
    # Data dirs trained before the linear part have XGBoost alone on the 57 features.
    y = np.searchsorted(model.classes, table.labels)
    trees = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(table.X, y)
    old = GenreModel(**{**model.__dict__, "classifier": trees, "linear": None})
    save_genre_model(old, tmp_path)
    meta = json.loads((tmp_path / META_FILENAME).read_text())
    del meta["linear"]
    meta["format_version"] = 1
    (tmp_path / META_FILENAME).write_text(json.dumps(meta))
    loaded = load_genre_model(tmp_path)
    assert loaded.linear is None
    # Exact: no BLAS on this path. XGBoost sums each row's trees in tree order whatever the
    # threads, its JSON keeps the float32 leaves exactly, and the rest is element-wise numpy.
    np.testing.assert_array_equal(loaded.predict_proba(table.X), old.predict_proba(table.X))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "svm"}, "unknown linear part"),
        ({"coef": [[0.0] * 57] * 3}, "wrong shapes"),
        ({"scale": [0.0] * 57}, "invalid values"),
        ({"mean": "x"}, "corrupt"),
        ({"intercept": None}, "coef without intercept"),
    ],
)
def test_corrupt_linear_part_raises(
    saved_blend: Path, change: dict[str, object], message: str
) -> None:
    meta = json.loads((saved_blend / META_FILENAME).read_text())
    meta["linear"].update(change)
    (saved_blend / META_FILENAME).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=message):
        load_genre_model(saved_blend)


def test_logistic_regression_half_present_raises(saved: Path) -> None:
    meta = json.loads((saved / META_FILENAME).read_text())
    meta["linear"]["coef"] = [[0.0] * 57] * 10
    (saved / META_FILENAME).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="coef without intercept"):
        load_genre_model(saved)


def test_booster_without_the_linear_inputs_raises(saved: Path) -> None:
    # A linear part whose directions the booster was not trained on must not load.
    meta = json.loads((saved / META_FILENAME).read_text())
    meta["linear"]["scalings"] = [row[:5] for row in meta["linear"]["scalings"]]
    (saved / META_FILENAME).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="shape does not match"):
        load_genre_model(saved)


def test_training_reports_every_fit(table: FeatureTable) -> None:
    # Every tenth song: enough rows for stratified folds, few enough for seconds of training.
    rows = np.arange(0, len(table), 10)
    small = FeatureTable(
        filenames=[table.filenames[i] for i in rows],
        X=table.X[rows],
        labels=table.labels[rows],
        groups=None,
        sha256="every-tenth",
    )
    heard: list[tuple[int, int]] = []
    train_genre_model(small, evaluate=True, seed=0, progress=lambda *step: heard.append(step))

    total = heard[0][1]
    # One final fit and one per fold of every evaluation split, each heard once, in order.
    assert total == 1 + sum(len(folds) for folds in evaluation_splits(small).values())
    assert heard == [(done, total) for done in range(total + 1)]
