"""The GTZAN feature table and the cross-validation splits used to measure models on it.

The scaler and the genre model are fitted on this table, so reading it is strict: a wrong or
missing value would silently shift every vector in the library.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.errors import ModelError

_DATA_DIR = Path(__file__).resolve().parent / "data"
_ARTIST_FILTER_DIR = _DATA_DIR / "artist_filter"
_N_ARTIST_FOLDS = 3


def bundled_table_path() -> Path:
    """Path of the bundled Kaggle GTZAN ``features_30_sec.csv`` (1000 songs, 10 genres)."""
    return _DATA_DIR / "features_30_sec.csv"


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Songs with their 57 features and genre label, read from a CSV file.

    Attributes
    ----------
    filenames : list[str]
        The ``filename`` column, unique.
    X : np.ndarray [shape=(n, 57)]
        float64 features in ``FEATURE_NAMES`` order, all finite.
    labels : np.ndarray [shape=(n,)]
        Genre labels (str).
    groups : np.ndarray [shape=(n,)] or None
        Artist or album ids (str) from an optional ``group`` column, so that splits can keep an
        artist on one side only.
    sha256 : str
        Hash of the file bytes, recorded in models fitted on the table.
    """

    filenames: list[str]
    X: np.ndarray
    labels: np.ndarray
    groups: np.ndarray | None
    sha256: str

    def __len__(self) -> int:
        return len(self.filenames)


@dataclass(frozen=True, eq=False)
class Fold:
    """One train/test split of a table.

    Attributes
    ----------
    train, test : np.ndarray [shape=(n_train,), (n_test,)]
        Row indices into the table, disjoint.
    train_groups : np.ndarray [shape=(n_train,)]
        Artist ids of the train rows, for artist-grouped inner validation.
    """

    train: np.ndarray
    test: np.ndarray
    train_groups: np.ndarray


def load_table(path: Path) -> FeatureTable:
    """Read a feature CSV: ``filename``, the 57 feature columns by name, ``label``, opt. ``group``.

    Other columns (such as ``length``) are ignored. Raises `ModelError` naming the column or the
    line when the table cannot be trusted.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read feature table: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: feature table is not UTF-8 text") from exc

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise ModelError(f"{path}: feature table is empty")
    header = [name.strip() for name in header]
    required = ("filename", *FEATURE_NAMES, "label")
    missing = [name for name in required if name not in header]
    if missing:
        raise ModelError(f"{path}: missing column(s): {', '.join(missing)}")
    column = {name: header.index(name) for name in header}
    feature_cols = [column[name] for name in FEATURE_NAMES]
    group_col = column.get("group")

    filenames: list[str] = []
    rows: list[list[float]] = []
    labels: list[str] = []
    groups: list[str] = []
    seen: dict[str, int] = {}
    for fields in reader:
        line = reader.line_num
        if not fields or all(not value.strip() for value in fields):
            continue
        if len(fields) != len(header):
            raise ModelError(
                f"{path}: line {line}: {len(fields)} fields, the header has {len(header)}"
            )
        filename = fields[column["filename"]].strip()
        label = fields[column["label"]].strip()
        if not filename:
            raise ModelError(f"{path}: line {line}: empty filename")
        if filename in seen:
            raise ModelError(
                f"{path}: line {line}: filename {filename!r} repeats line {seen[filename]}"
            )
        if not label:
            raise ModelError(f"{path}: line {line}: empty label")
        seen[filename] = line
        rows.append([_parse_float(fields[i], path, line, header[i]) for i in feature_cols])
        filenames.append(filename)
        labels.append(label)
        if group_col is not None:
            group = fields[group_col].strip()
            if not group:
                raise ModelError(f"{path}: line {line}: empty group")
            groups.append(group)

    if not rows:
        raise ModelError(f"{path}: feature table has no rows")
    return FeatureTable(
        filenames=filenames,
        X=np.asarray(rows, dtype=np.float64),
        labels=np.asarray(labels, dtype=str),
        groups=np.asarray(groups, dtype=str) if group_col is not None else None,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _parse_float(value: str, path: Path, line: int, name: str) -> float:
    where = f"{path}: line {line}: column {name!r}"
    try:
        number = float(value)
    except ValueError:
        raise ModelError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ModelError(f"{where}: {value!r} is not finite")
    return number


def _read_split_file(path: Path) -> list[tuple[str, str]]:
    """(table filename, second field) pairs; ``./blues_00012.wav`` becomes ``blues.00012.wav``."""
    pairs = []
    for line in path.read_text(encoding="ascii").splitlines():
        if not line.strip():
            continue
        name, value = line.split("\t")
        genre, number = name.removeprefix("./").rsplit("_", 1)
        pairs.append((f"{genre}.{number}", value.strip()))
    return pairs


@cache
def _artist_filter_split() -> list[dict[str, list[tuple[str, str]]]]:
    return [
        {
            part: _read_split_file(_ARTIST_FILTER_DIR / f"f{k}_{part}.txt")
            for part in ("train", "evaluate", "train_groups")
        }
        for k in range(1, _N_ARTIST_FOLDS + 1)
    ]


def artist_ids(table: FeatureTable, *, unknown: Sequence[str] | None = None) -> np.ndarray:
    """An artist key per row [shape=(n,)], for measuring how many artists a list shows.

    The table's ``group`` column when it has one; for GTZAN, the artist ids of the bundled
    artist-filtered split (948 songs, 412 artists). A song the split does not name gets its
    entry of ``unknown`` (one per row), else counts as an artist of its own, so it can never
    make a list look less varied than it is.
    """
    if table.groups is not None:
        return np.asarray(table.groups, dtype=str)
    known: dict[str, str] = {}
    for k in range(1, _N_ARTIST_FOLDS + 1):
        for part in ("train_groups", "evaluate_groups"):
            known.update(_read_split_file(_ARTIST_FILTER_DIR / f"f{k}_{part}.txt"))
    if unknown is None:
        unknown = [f"song-{name}" for name in table.filenames]
    return np.array(
        [
            f"artist-{known[name]}" if name in known else other
            for name, other in zip(table.filenames, unknown, strict=True)
        ]
    )


def has_artist_filter_split(table: FeatureTable) -> bool:
    """Whether every song of the bundled artist-filtered split is in ``table`` (GTZAN tables)."""
    names = set(table.filenames)
    split = _artist_filter_split()
    return all(name in names for fold in split for name, _ in fold["train"] + fold["evaluate"])


def artist_filter_folds(table: FeatureTable) -> list[Fold]:
    """The 3 artist-filtered GTZAN folds (Sturm 2013; Foleis & Tavares 2020) as rows of ``table``.

    No artist is on both sides of a fold and exact duplicates are left out, so accuracy measured
    on these folds is not inflated by memorising artists. 948 of the 1000 songs are used.
    """
    row = {name: i for i, name in enumerate(table.filenames)}
    folds = []
    for k, split in enumerate(_artist_filter_split(), start=1):
        indices = {}
        for part in ("train", "evaluate"):
            missing = [name for name, _ in split[part] if name not in row]
            if missing:
                raise ModelError(
                    f"artist-filtered fold {k}: {len(missing)} song(s) not in the table, "
                    f"e.g. {missing[0]!r}"
                )
            for name, genre in split[part]:
                if table.labels[row[name]] != genre:
                    raise ModelError(
                        f"artist-filtered fold {k}: {name!r} is {genre!r} in the split but "
                        f"{table.labels[row[name]]!r} in the table"
                    )
            indices[part] = np.array([row[name] for name, _ in split[part]], dtype=np.intp)
        artist = dict(split["train_groups"])
        folds.append(
            Fold(
                train=indices["train"],
                test=indices["evaluate"],
                train_groups=np.array([int(artist[name]) for name, _ in split["train"]]),
            )
        )
    return folds


def stratified_folds(labels: np.ndarray, *, n_splits: int = 5, seed: int = 0) -> list[Fold]:
    """Shuffled stratified K-fold; ``train_groups`` are the row indices (each song its own group).

    Songs by one artist land on both sides, so scores here are optimistic; see
    `artist_filter_folds`.
    """
    labels = np.asarray(labels)
    from sklearn.model_selection import StratifiedKFold  # slow import: only here

    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [
        Fold(train=train, test=test, train_groups=train.copy())
        for train, test in splitter.split(np.zeros((len(labels), 1)), labels)
    ]


def group_folds(
    labels: np.ndarray, groups: np.ndarray, *, n_splits: int = 5, seed: int = 0
) -> list[Fold]:
    """Stratified K-fold that keeps each group (artist, album) on one side of every fold."""
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    from sklearn.model_selection import StratifiedGroupKFold  # slow import: only here

    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [
        Fold(train=train, test=test, train_groups=groups[train])
        for train, test in splitter.split(np.zeros((len(labels), 1)), labels, groups)
    ]
