"""The transform from 57 raw features to an index vector: the metric of "sounds alike".

Raw GTZAN features span about ten orders of magnitude (``spectral_centroid_var`` is near 1e6,
``zero_crossing_rate_var`` near 1e-4), so raw cosine is decided by a few variance columns. The
scaler takes the log of the variance columns (they are heavy-tailed and positive) and
standardizes every column: the default ``standardized`` metric, which makes the ``features``
space. The ``lda`` metric then applies the learned projection of `indexer.model.metric`; it is
opt-in (``soundalike train --table`` fits it on a user's own labels), because the projection
learned on GTZAN's ten genres throws away what the rest of the world's music differs by. The
scaler is fitted once on the feature table and stored as JSON (never pickle) next to the index;
its version hash covers every number, so a new metric rebuilds the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.audio.feature_columns import FEATURE_NAMES, N_FEATURES
from indexer.errors import ModelError
from indexer.files import file_lock, write_atomic
from indexer.model.gtzan_table import FeatureTable, bundled_table_path, load_table
from indexer.model.metric import Projection, fit_projection

log = logging.getLogger(__name__)

SCALER_FILENAME = "scaler.json"
_FORMAT = "soundalike-scaler"
_FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)

METRICS = ("standardized", "lda")
DEFAULT_METRIC = "standardized"
# Variances are positive with long right tails; their logs are close to normal, which is what
# standardization and LDA assume. Measured on the artist-filtered folds: LDA precision@5 0.46
# without the log, 0.49 with it.
LOG_COLUMNS = tuple(name for name in FEATURE_NAMES if name.endswith("_var"))


@dataclass(frozen=True, eq=False)
class Scaler:
    """Per-feature mean and scale fitted on a feature table, and an optional learned projection.

    Attributes
    ----------
    mean, scale : np.ndarray [shape=(57,)]
        float64, of the features after the log of ``log_columns``; ``scale`` is 1 for constant
        columns so they map to 0 instead of NaN.
    feature_names : tuple[str, ...]
        Column order the scaler was fitted in; must equal ``FEATURE_NAMES``.
    source_sha256 : str
        Hash of the table the scaler was fitted on.
    log_columns : tuple[str, ...]
        Columns replaced by their natural log before standardizing (empty in format 1 files).
    projection : Projection or None
        The learned metric (``metric == "lda"``); None for plain standardized cosine.
    chosen : bool
        Fitted because someone asked for this metric (``soundalike train``), rather than on
        first need: a chosen metric is kept when the default changes. Not part of the version.
    """

    mean: np.ndarray
    scale: np.ndarray
    feature_names: tuple[str, ...]
    source_sha256: str
    log_columns: tuple[str, ...] = ()
    projection: Projection | None = None
    chosen: bool = False

    @property
    def metric(self) -> str:
        """``"lda"`` with a learned projection, else ``"standardized"``."""
        return "standardized" if self.projection is None else "lda"

    @property
    def dim(self) -> int:
        """Length of the vectors `transform` returns (the index dimension)."""
        return N_FEATURES if self.projection is None else self.projection.dim

    @property
    def version(self) -> str:
        """Short hash of every number and name: vectors made by different scalers don't mix."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.mean, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.scale, dtype="<f8").tobytes())
        digest.update("\0".join(self.feature_names).encode())
        # Format 1 scalers (no log, no projection) keep the version they were saved with.
        if self.log_columns:
            digest.update(b"\0log\0" + "\0".join(self.log_columns).encode())
        if self.projection is not None:
            for part in self.projection.digest_parts():
                digest.update(part)
        return digest.hexdigest()[:12]

    def standardize(self, raw: np.ndarray) -> np.ndarray:
        """Log of ``log_columns``, then (x - mean) / scale; float64 [shape=(n, 57)]."""
        return (_log_columns(as_feature_matrix(raw), self.log_columns) - self.mean) / self.scale

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Standardize, then L2-normalize each row so that inner product equals cosine.

        Parameters
        ----------
        raw : np.ndarray [shape=(57,) or (n, 57)]
            Unscaled features in ``FEATURE_NAMES`` order.

        Returns
        -------
        np.ndarray [shape=(n, dim)]
            float32 unit rows; a row equal to the mean stays all zeros rather than NaN.
        """
        Z = self.standardize(raw)
        if self.projection is not None:
            Z = self.projection.transform(Z)
        return _unit_rows(Z)


def fit_scaler(
    X: np.ndarray,
    *,
    source_sha256: str,
    labels: np.ndarray | None = None,
    metric: str = "standardized",
    log_variances: bool = True,
    chosen: bool = False,
) -> Scaler:
    """Fit the transform on rows ``X`` [shape=(n, 57)].

    ``metric="standardized"``: mean and population standard deviation per column of the
    features with the variance columns replaced by their logs (the ``features`` space); with
    ``log_variances=False`` no log is taken, the transform of format 1 that the evaluation
    still reports as ``standardized_cosine``. ``metric="lda"``: the log-variance standardization,
    then LDA fitted on ``labels`` [shape=(n,)] (see `indexer.model.metric`).
    """
    if metric not in METRICS:
        raise ModelError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    X = as_feature_matrix(X)
    if X.shape[0] == 0:
        raise ModelError("cannot fit a scaler on zero rows")
    log_columns = LOG_COLUMNS if metric == "lda" or log_variances else ()
    if log_columns:
        X = _log_columns(X, log_columns)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    # A constant column carries no information: map it to exactly 0 (its value as the mean, since
    # a summed mean can be off by one ulp) with scale 1, instead of dividing by ~1e-17.
    constant = np.ptp(X, axis=0) == 0
    mean[constant] = X[0, constant]
    scale[constant | (scale == 0)] = 1.0
    projection = None
    if metric == "lda":
        if labels is None or len(labels) != X.shape[0]:
            raise ModelError("the lda metric needs one label per row")
        projection = fit_projection((X - mean) / scale, np.asarray(labels))
    return Scaler(
        mean=mean,
        scale=scale,
        feature_names=tuple(FEATURE_NAMES),
        source_sha256=source_sha256,
        log_columns=log_columns,
        projection=projection,
        chosen=chosen,
    )


def _log_columns(X: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    if not names:
        return X
    columns = [FEATURE_NAMES.index(name) for name in names]
    values = X[:, columns]
    if (values <= 0).any():
        # Silence gives a variance of exactly 0; clamp rather than produce -inf, far below any
        # real song (the smallest variance in GTZAN is about 1e-6).
        values = np.maximum(values, 1e-12)
    out = X.copy()
    out[:, columns] = np.log(values)
    return out


def raw_unit_vectors(raw: np.ndarray) -> np.ndarray:
    """Raw features L2-normalized, float32 [shape=(n, 57)]: the seed notebook's metric.

    Kept only to measure how much standardization helps; it is not used for search.
    """
    return _unit_rows(as_feature_matrix(raw))


def save_scaler(scaler: Scaler, path: Path) -> None:
    """Write ``scaler`` as JSON atomically, so a reader never sees half a file."""
    document = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "version": scaler.version,
        "source_sha256": scaler.source_sha256,
        "feature_names": list(scaler.feature_names),
        # json writes floats with repr, which round-trips float64 exactly.
        "mean": [float(v) for v in scaler.mean],
        "scale": [float(v) for v in scaler.scale],
        "metric": scaler.metric,
        "log_columns": list(scaler.log_columns),
        "projection": None if scaler.projection is None else scaler.projection.to_json(),
        "chosen": scaler.chosen,
    }
    write_atomic(Path(path), (json.dumps(document, indent=1) + "\n").encode())


def load_scaler(path: Path) -> Scaler:
    """Read a scaler written by `save_scaler`; `ModelError` if missing, corrupt or mismatched."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: scaler file is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: scaler file is unreadable: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise ModelError(f"{path}: not a soundalike scaler file")
    if document.get("format_version") not in _READABLE_VERSIONS:
        raise ModelError(f"{path}: unsupported scaler format {document.get('format_version')!r}")
    names = document.get("feature_names")
    if names != list(FEATURE_NAMES):
        raise ModelError(f"{path}: scaler was fitted on different feature names")
    try:
        mean = np.asarray(document["mean"], dtype=np.float64)
        scale = np.asarray(document["scale"], dtype=np.float64)
        source_sha256 = str(document["source_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: scaler file is corrupt: {exc!r}") from exc
    if mean.shape != (N_FEATURES,) or scale.shape != (N_FEATURES,):
        raise ModelError(f"{path}: scaler needs {N_FEATURES} means and scales")
    if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise ModelError(f"{path}: scaler has non-finite or non-positive values")
    log_columns = document.get("log_columns") or []
    if not isinstance(log_columns, list) or not set(log_columns) <= set(FEATURE_NAMES):
        raise ModelError(f"{path}: scaler has unknown log columns")
    projection = None
    if document.get("projection") is not None:
        try:
            projection = Projection.from_json(document["projection"], n_features=N_FEATURES)
        except ModelError as exc:
            raise ModelError(f"{path}: {exc}") from exc
    scaler = Scaler(
        mean=mean,
        scale=scale,
        feature_names=tuple(names),
        source_sha256=source_sha256,
        log_columns=tuple(log_columns),
        projection=projection,
        chosen=bool(document.get("chosen", False)),
    )
    if document.get("version") != scaler.version:
        raise ModelError(f"{path}: scaler version does not match its values")
    return scaler


def ensure_scaler(model_dir: Path, *, metric: str | None = None) -> Scaler:
    """Load ``model_dir/scaler.json``, or fit it on the bundled table and save it on first need.

    Without ``metric``, a saved scaler is kept when it is current: the log-variance
    standardization, or an LDA someone chose (``soundalike train``, or fitted on a table other
    than the bundled one). Anything else is refitted as `DEFAULT_METRIC` and replaced: a format 1
    file (no log), or the GTZAN LDA fitted on first need when it was the default. With
    ``metric``, a saved scaler of another metric is refitted with it. A new version makes
    `Library.sync_index` rebuild the index. A lock file serializes concurrent callers, so two
    processes starting together fit it once. A present but corrupt file raises `ModelError`
    rather than being overwritten.
    """
    model_dir = Path(model_dir)
    path = model_dir / SCALER_FILENAME
    with locked(model_dir / ".scaler.lock"):
        table_path = bundled_table_path()
        if path.exists():
            scaler = load_scaler(path)
            if metric is None and _current(scaler, bundled_sha256=_file_sha256(table_path)):
                return scaler
            if metric is not None and scaler.metric == metric and scaler.log_columns:
                return scaler
            log.info("scaler in %s uses %s; refitting", model_dir, scaler.metric)
        else:
            log.info("no scaler in %s; fitting the scaler on the bundled table", model_dir)
        table = load_table(table_path)
        scaler = fit_scaler(
            table.X,
            source_sha256=table.sha256,
            labels=table.labels,
            metric=metric or DEFAULT_METRIC,
            chosen=metric is not None and metric != DEFAULT_METRIC,
        )
        save_scaler(scaler, path)
        return scaler


def _current(scaler: Scaler, *, bundled_sha256: str) -> bool:
    """Whether a saved scaler stays when no metric is asked for (see `ensure_scaler`)."""
    if not scaler.log_columns:
        return False
    if scaler.metric == DEFAULT_METRIC:
        return True
    return scaler.chosen or scaler.source_sha256 != bundled_sha256


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def refit_scaler(model_dir: Path, table: FeatureTable, *, metric: str = DEFAULT_METRIC) -> Scaler:
    """Fit the transform on ``table`` and save it in ``model_dir``, replacing the current one.

    `soundalike train --table` calls this with the ``lda`` metric, so that the learned metric
    is fitted on the same songs and genres as the classifier and shapes the ``features``
    space; a metric fitted here counts as chosen and is kept. The new version makes the next
    `Library.sync_index` rebuild the index.
    """
    model_dir = Path(model_dir)
    with locked(model_dir / ".scaler.lock"):
        scaler = fit_scaler(
            table.X, source_sha256=table.sha256, labels=table.labels, metric=metric, chosen=True
        )
        save_scaler(scaler, model_dir / SCALER_FILENAME)
    return scaler


# Fitting the scaler takes seconds and training the genre model on a large table minutes: a
# process still waiting after an hour is behind a holder that is stuck, and should say so.
MODEL_LOCK_TIMEOUT_S = 3600.0


@contextlib.contextmanager
def locked(lock_path: Path, *, timeout_s: float = MODEL_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock that makes concurrent processes fit or train a model once; `ModelError` if
    it cannot be had within ``timeout_s`` (an hour: far beyond any fit, so only a stuck holder).
    """
    with file_lock(lock_path, timeout_s=timeout_s, error=ModelError):
        yield


def as_feature_matrix(raw: np.ndarray) -> np.ndarray:
    """Check raw features and return them as float64 [shape=(n, 57)]; `ModelError` if unusable.

    Every model entry point calls this, so a NaN from a broken extractor fails loudly here
    instead of turning into a NaN vector or a confident but meaningless genre.
    """
    X = np.asarray(raw, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != N_FEATURES:
        raise ModelError(
            f"expected features of shape ({N_FEATURES},) or (n, {N_FEATURES}), got {X.shape}"
        )
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ModelError(f"non-finite feature {FEATURE_NAMES[bad[1]]!r} in row {bad[0]}")
    return X


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    # Leave zero rows at zero: dividing would give NaN, which FAISS would rank arbitrarily.
    unit = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    return unit.astype(np.float32)
