"""Standardization fitted on the bundled table, and its JSON file."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.errors import ModelError
from indexer.model.gtzan_table import FeatureTable, bundled_table_path, load_table
from indexer.model.scaler import (
    LOG_COLUMNS,
    Scaler,
    ensure_scaler,
    fit_scaler,
    load_scaler,
    raw_unit_vectors,
    refit_scaler,
    save_scaler,
)


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return load_table(bundled_table_path())


@pytest.fixture(scope="module")
def lda_scaler(table: FeatureTable) -> Scaler:
    return fit_scaler(table.X, source_sha256=table.sha256, labels=table.labels, metric="lda")


@pytest.fixture(scope="module")
def scaler(table: FeatureTable) -> Scaler:
    return fit_scaler(table.X, source_sha256=table.sha256)


def test_transform_gives_unit_rows_of_standardized_columns(
    table: FeatureTable, scaler: Scaler
) -> None:
    vecs = scaler.transform(table.X)
    assert vecs.shape == (1000, 57)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    # The features space: the variance columns by their logs, then every column standardized.
    assert scaler.metric == "standardized"
    assert scaler.log_columns == LOG_COLUMNS
    logged = table.X.copy()
    columns = [FEATURE_NAMES.index(name) for name in LOG_COLUMNS]
    logged[:, columns] = np.log(logged[:, columns])
    standardized = (logged - scaler.mean) / scaler.scale
    np.testing.assert_allclose(scaler.standardize(table.X), standardized, atol=1e-12)
    np.testing.assert_allclose(standardized.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(standardized.std(axis=0), 1.0, atol=1e-9)
    # Same direction as the standardized row: cosine 1.
    row = standardized[7] / np.linalg.norm(standardized[7])
    assert float(vecs[7] @ row) == pytest.approx(1.0, abs=1e-6)
    assert scaler.feature_names == FEATURE_NAMES
    assert scaler.source_sha256 == table.sha256


def test_one_song_gives_one_row(table: FeatureTable, scaler: Scaler) -> None:
    np.testing.assert_array_equal(scaler.transform(table.X[3]), scaler.transform(table.X)[3:4])


def test_standardization_evens_out_feature_magnitudes(table: FeatureTable, scaler: Scaler) -> None:
    # Raw cosine is dominated by the huge variance columns: almost every pair looks alike.
    raw = raw_unit_vectors(table.X)
    np.testing.assert_allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-6)
    assert float(np.median(raw @ raw.T)) > 0.9
    vecs = scaler.transform(table.X)
    assert abs(float(np.median(vecs @ vecs.T))) < 0.2


def test_constant_column_and_mean_row_stay_finite() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 57))
    X[:, 5] = 0.1  # constant: std is 0 (or ~1e-17 from rounding)
    # Without the log, so that the mean row is a row of raw features.
    scaler = fit_scaler(X, source_sha256="test", log_variances=False)
    assert scaler.scale[5] == 1.0
    vecs = scaler.transform(X)
    assert np.isfinite(vecs).all()
    assert (vecs[:, 5] == 0).all()
    np.testing.assert_array_equal(scaler.transform(scaler.mean), np.zeros((1, 57), np.float32))
    np.testing.assert_array_equal(raw_unit_vectors(np.zeros(57)), np.zeros((1, 57), np.float32))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises(scaler: Scaler, table: FeatureTable, value: float) -> None:
    X = table.X[:4].copy()
    X[2, FEATURE_NAMES.index("tempo")] = value
    with pytest.raises(ModelError, match="non-finite feature 'tempo' in row 2"):
        scaler.transform(X)
    with pytest.raises(ModelError, match="non-finite"):
        raw_unit_vectors(X)
    with pytest.raises(ModelError, match="non-finite"):
        fit_scaler(X, source_sha256="test")


@pytest.mark.parametrize("shape", [(56,), (3, 58), (2, 3, 57)])
def test_wrong_shape_raises(scaler: Scaler, shape: tuple[int, ...]) -> None:
    with pytest.raises(ModelError, match="expected features of shape"):
        scaler.transform(np.zeros(shape))


def test_fit_on_no_rows_raises() -> None:
    with pytest.raises(ModelError, match="zero rows"):
        fit_scaler(np.zeros((0, 57)), source_sha256="test")


def test_save_load_round_trip(tmp_path: Path, table: FeatureTable, scaler: Scaler) -> None:
    path = tmp_path / "scaler.json"
    save_scaler(scaler, path)
    loaded = load_scaler(path)
    np.testing.assert_array_equal(loaded.transform(table.X), scaler.transform(table.X))
    assert loaded.version == scaler.version
    assert len(scaler.version) == 12
    assert loaded.source_sha256 == table.sha256
    assert json.loads(path.read_text())["feature_names"] == list(FEATURE_NAMES)
    assert [p.name for p in tmp_path.iterdir()] == ["scaler.json"]  # no temp file left


def _edit(document: dict, key: str, value: object) -> dict:
    return {**document, key: value}


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda text, doc: text[: len(text) // 2], "unreadable"),
        (lambda text, doc: "", "unreadable"),
        (lambda text, doc: "[1, 2]", "not a soundalike scaler"),
        (lambda text, doc: json.dumps(_edit(doc, "feature_names", doc["feature_names"][::-1])),
         "different feature names"),
        (lambda text, doc: json.dumps(_edit(doc, "mean", doc["mean"][:56])), "57 means"),
        (lambda text, doc: json.dumps(_edit(doc, "mean", ["x"] * 57)), "corrupt"),
        (lambda text, doc: json.dumps(_edit(doc, "scale", [0.0] * 57)), "non-positive"),
        (lambda text, doc: json.dumps(_edit(doc, "mean", [m + 1 for m in doc["mean"]])),
         "version does not match"),
        (lambda text, doc: json.dumps(_edit(doc, "format_version", 99)), "unsupported"),
    ],
)  # fmt: skip
def test_corrupt_file_raises(tmp_path: Path, scaler: Scaler, corrupt, message: str) -> None:
    path = tmp_path / "scaler.json"
    save_scaler(scaler, path)
    text = path.read_text()
    path.write_text(corrupt(text, json.loads(text)))
    with pytest.raises(ModelError, match=message):
        load_scaler(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        load_scaler(tmp_path / "scaler.json")


def test_ensure_scaler_fits_once_then_loads(
    tmp_path: Path, scaler: Scaler, caplog: pytest.LogCaptureFixture
) -> None:
    model_dir = tmp_path / "model"
    caplog.set_level(logging.INFO, logger="indexer.model.scaler")
    # Four callers at once: the lock makes them agree on one file.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ensure_scaler(model_dir), range(4)))
    assert {s.version for s in results} == {scaler.version}
    assert sum("fitting the scaler" in r.message for r in caplog.records) == 1
    assert (model_dir / "scaler.json").exists()
    assert ensure_scaler(model_dir).version == scaler.version


def test_ensure_scaler_does_not_overwrite_a_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "scaler.json").write_text("{")
    with pytest.raises(ModelError, match="unreadable"):
        ensure_scaler(tmp_path)
    assert (tmp_path / "scaler.json").read_text() == "{"


def test_lda_metric_round_trips_and_versions_its_projection(
    tmp_path: Path, table: FeatureTable, scaler: Scaler, lda_scaler: Scaler
) -> None:
    vecs = lda_scaler.transform(table.X)
    # 10 genre posteriors (square roots) and 9 discriminant directions.
    assert vecs.shape == (len(table), 19) == (len(table), lda_scaler.dim)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-6)
    assert lda_scaler.metric == "lda"
    assert lda_scaler.version != scaler.version
    path = tmp_path / "scaler.json"
    save_scaler(lda_scaler, path)
    assert "projection" in json.loads(path.read_text())
    loaded = load_scaler(path)
    assert loaded.version == lda_scaler.version
    # The projection's matrix products go through BLAS, which does not promise the same bits
    # for a fitted and a loaded matrix (its kernels may depend on the processor, the memory
    # layout scikit-learn left and the alignment): a last-bit difference in float64 can move
    # the float32 rounding by one step.
    np.testing.assert_allclose(loaded.transform(table.X), vecs, rtol=1e-6, atol=1e-6)


def test_lda_metric_puts_a_genre_nearer_to_itself(table: FeatureTable, lda_scaler: Scaler) -> None:
    vecs = lda_scaler.transform(table.X)
    same = table.labels[:, None] == table.labels[None, :]
    sims = vecs @ vecs.T
    assert sims[same].mean() > sims[~same].mean() + 0.5


def test_lda_metric_refuses_one_genre() -> None:
    X = np.random.default_rng(0).normal(size=(20, 57)) ** 2
    with pytest.raises(ModelError, match="at least 2 genres"):
        fit_scaler(X, source_sha256="t", labels=np.array(["a"] * 20), metric="lda")


def test_ensure_scaler_upgrades_a_format_1_file(
    tmp_path: Path, table: FeatureTable, scaler: Scaler
) -> None:
    plain = fit_scaler(table.X, source_sha256=table.sha256, log_variances=False)
    path = tmp_path / "scaler.json"
    save_scaler(plain, path)
    document = json.loads(path.read_text())
    for key in ("metric", "log_columns", "projection", "chosen"):
        del document[key]
    path.write_text(json.dumps({**document, "format_version": 1}))
    assert load_scaler(path).version == plain.version  # old files keep their version
    assert ensure_scaler(tmp_path).version == scaler.version
    assert load_scaler(path).log_columns == LOG_COLUMNS


def test_ensure_scaler_replaces_the_gtzan_lda_it_once_fitted_by_default(
    tmp_path: Path, scaler: Scaler, lda_scaler: Scaler
) -> None:
    # What a data dir from before the two spaces holds: the LDA, fitted on first need.
    save_scaler(lda_scaler, tmp_path / "scaler.json")
    assert ensure_scaler(tmp_path).version == scaler.version
    assert load_scaler(tmp_path / "scaler.json").metric == "standardized"


def test_ensure_scaler_keeps_an_lda_someone_chose(
    tmp_path: Path, table: FeatureTable, lda_scaler: Scaler
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    # Chosen with soundalike train (the GTZAN table here) ...
    chosen = refit_scaler(tmp_path / "a", table, metric="lda")
    assert chosen.chosen
    assert chosen.version == lda_scaler.version
    assert ensure_scaler(tmp_path / "a").version == lda_scaler.version
    # ... or fitted on a table of one's own before the flag existed.
    own = fit_scaler(
        table.X[:500], source_sha256="my-table", labels=table.labels[:500], metric="lda"
    )
    save_scaler(own, tmp_path / "b" / "scaler.json")
    assert ensure_scaler(tmp_path / "b").version == own.version
    # Asking for a metric refits with it.
    assert ensure_scaler(tmp_path / "b", metric="standardized").metric == "standardized"
