"""Standardization of the 57 features, so that no single feature dominates cosine similarity.

Raw GTZAN features span about ten orders of magnitude (``spectral_centroid_var`` is near 1e6,
``zero_crossing_rate_var`` near 1e-4), so raw cosine is decided by a few variance columns. The
scaler is fitted once on the feature table and stored as JSON (never pickle) next to the index.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.errors import ModelError
from indexer.schema import FEATURE_NAMES, N_FEATURES
from indexer.table import bundled_table_path, load_table

log = logging.getLogger(__name__)

SCALER_FILENAME = "scaler.json"
_FORMAT = "soundalike-scaler"
_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Scaler:
    """Per-feature mean and scale fitted on a feature table.

    Attributes
    ----------
    mean, scale : np.ndarray [shape=(57,)]
        float64; ``scale`` is 1 for constant columns so they map to 0 instead of NaN.
    feature_names : tuple[str, ...]
        Column order the scaler was fitted in; must equal ``FEATURE_NAMES``.
    source_sha256 : str
        Hash of the table the scaler was fitted on.
    """

    mean: np.ndarray
    scale: np.ndarray
    feature_names: tuple[str, ...]
    source_sha256: str

    @property
    def version(self) -> str:
        """Short hash of mean, scale and names: vectors made by different scalers don't mix."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.mean, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.scale, dtype="<f8").tobytes())
        digest.update("\0".join(self.feature_names).encode())
        return digest.hexdigest()[:12]

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Standardize, then L2-normalize each row so that inner product equals cosine.

        Parameters
        ----------
        raw : np.ndarray [shape=(57,) or (n, 57)]
            Unscaled features in ``FEATURE_NAMES`` order.

        Returns
        -------
        np.ndarray [shape=(n, 57)]
            float32 unit rows; a row equal to the mean stays all zeros rather than NaN.
        """
        X = as_feature_matrix(raw)
        return _unit_rows((X - self.mean) / self.scale)


def fit_scaler(X: np.ndarray, *, source_sha256: str) -> Scaler:
    """Fit mean and population standard deviation per column of ``X`` [shape=(n, 57)]."""
    X = as_feature_matrix(X)
    if X.shape[0] == 0:
        raise ModelError("cannot fit a scaler on zero rows")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    # A constant column carries no information: map it to exactly 0 (its value as the mean, since
    # a summed mean can be off by one ulp) with scale 1, instead of dividing by ~1e-17.
    constant = np.ptp(X, axis=0) == 0
    mean[constant] = X[0, constant]
    scale[constant | (scale == 0)] = 1.0
    return Scaler(
        mean=mean, scale=scale, feature_names=tuple(FEATURE_NAMES), source_sha256=source_sha256
    )


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
    }
    _write_atomic(Path(path), (json.dumps(document, indent=1) + "\n").encode())


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
    if document.get("format_version") != _FORMAT_VERSION:
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
    scaler = Scaler(mean=mean, scale=scale, feature_names=tuple(names), source_sha256=source_sha256)
    if document.get("version") != scaler.version:
        raise ModelError(f"{path}: scaler version does not match its values")
    return scaler


def ensure_scaler(model_dir: Path) -> Scaler:
    """Load ``model_dir/scaler.json``, or fit it on the bundled table and save it on first need.

    A lock file serializes concurrent callers, so two processes starting together fit it once.
    A present but corrupt file raises `ModelError` rather than being overwritten silently.
    """
    model_dir = Path(model_dir)
    path = model_dir / SCALER_FILENAME
    with locked(model_dir / ".scaler.lock"):
        if path.exists():
            return load_scaler(path)
        log.info("no scaler in %s; fitting the scaler on the bundled table", model_dir)
        table = load_table(bundled_table_path())
        scaler = fit_scaler(table.X, source_sha256=table.sha256)
        save_scaler(scaler, path)
        return scaler


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created with its folder if needed)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temporary name keeps the suffix, since some writers (XGBoost) choose the format by it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(0o644)
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


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
