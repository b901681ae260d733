"""The bundled GTZAN table and its splits, read from the real files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.errors import ModelError
from indexer.model.gtzan_table import (
    FeatureTable,
    artist_filter_folds,
    bundled_table_path,
    group_folds,
    has_artist_filter_split,
    load_table,
    stratified_folds,
)

GENRES = [
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
]  # fmt: skip
BUNDLED_SHA256 = "e5fe20f4e2f61d1aa3e07b17ffdea6b565970b3a1811746bd31f182a401fc3bc"


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return load_table(bundled_table_path())


def read_rows() -> tuple[list[str], list[list[str]]]:
    """Header and rows of the bundled CSV, to build variants of it."""
    with open(bundled_table_path(), newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_bundled_table_has_1000_songs_in_10_genres(table: FeatureTable) -> None:
    assert len(table) == 1000
    assert table.X.shape == (1000, 57)
    assert table.X.dtype == np.float64
    assert np.isfinite(table.X).all()
    genres, counts = np.unique(table.labels, return_counts=True)
    assert genres.tolist() == GENRES
    assert counts.tolist() == [100] * 10
    assert table.groups is None
    assert table.sha256 == BUNDLED_SHA256
    assert table.filenames[0] == "blues.00000.wav"
    # First row, ``chroma_stft_mean`` and ``tempo``, as printed in the CSV.
    assert table.X[0, 0] == pytest.approx(0.3500881195068359)
    assert table.X[0, FEATURE_NAMES.index("tempo")] == pytest.approx(123.046875)


def test_columns_are_found_by_name_and_extra_columns_ignored(tmp_path: Path) -> None:
    header, rows = read_rows()
    order = list(reversed(range(len(header))))
    new_header = [header[i] for i in order] + ["group", "comment"]
    new_rows = [
        [row[i] for i in order] + [f"artist{n % 7}", "x"] for n, row in enumerate(rows[:50])
    ]
    shuffled = load_table(write_csv(tmp_path / "t.csv", new_header, new_rows))
    original = load_table(bundled_table_path())
    np.testing.assert_array_equal(shuffled.X, original.X[:50])
    assert shuffled.filenames == original.filenames[:50]
    assert shuffled.labels.tolist() == original.labels[:50].tolist()
    assert shuffled.groups is not None
    assert shuffled.groups[:3].tolist() == ["artist0", "artist1", "artist2"]


@pytest.mark.parametrize("column", ["tempo", "mfcc20_var", "filename", "label"])
def test_missing_column_is_named(tmp_path: Path, column: str) -> None:
    header, rows = read_rows()
    drop = header.index(column)
    path = write_csv(
        tmp_path / "t.csv",
        [h for i, h in enumerate(header) if i != drop],
        [[v for i, v in enumerate(row) if i != drop] for row in rows[:5]],
    )
    with pytest.raises(ModelError, match=f"missing column.*{column}"):
        load_table(path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "'rms_mean': 'abc' is not a number"),
        ("", "'rms_mean': '' is not a number"),
        ("nan", "'rms_mean': 'nan' is not finite"),
        ("inf", "'rms_mean': 'inf' is not finite"),
        ("-Infinity", "'rms_mean': '-Infinity' is not finite"),
    ],
)
def test_bad_value_names_line_and_column(tmp_path: Path, value: str, message: str) -> None:
    header, rows = read_rows()
    rows = [list(row) for row in rows[:5]]
    rows[2][header.index("rms_mean")] = value
    path = write_csv(tmp_path / "t.csv", header, rows)
    # Header is line 1, so the third data row is line 4.
    with pytest.raises(ModelError, match=f"line 4: column {message}"):
        load_table(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), (",".join(["filename", *FEATURE_NAMES, "label"]) + "\n", "no rows")],
)
def test_empty_table_raises(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(ModelError, match=message):
        load_table(path)


def test_repeated_filename_and_short_row_raise(tmp_path: Path) -> None:
    header, rows = read_rows()
    with pytest.raises(ModelError, match="'blues.00000.wav' repeats line 2"):
        load_table(write_csv(tmp_path / "a.csv", header, [rows[0], rows[1], rows[0]]))
    with pytest.raises(ModelError, match="line 3: 59 fields"):
        load_table(write_csv(tmp_path / "b.csv", header, [rows[0], rows[1][:-1]]))


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        load_table(tmp_path / "nope.csv")


def test_artist_filter_folds_are_disjoint_and_cover_948_songs(table: FeatureTable) -> None:
    folds = artist_filter_folds(table)
    assert [(len(f.train), len(f.test)) for f in folds] == [(633, 315), (632, 316), (631, 317)]
    tested = np.concatenate([f.test for f in folds])
    assert len(np.unique(tested)) == 948  # each used song is tested exactly once
    for fold in folds:
        assert not set(fold.train) & set(fold.test)
        assert set(fold.train) | set(fold.test) == set(tested)
        assert len(fold.train_groups) == len(fold.train)
        assert np.unique(table.labels[fold.test]).tolist() == GENRES
    # ``./blues_00000.wav`` (artist 0) is the first training song of fold 1.
    assert folds[0].train[0] == table.filenames.index("blues.00000.wav")
    assert folds[0].train_groups[0] == 0
    # Both songs of an exact-duplicate pair are left out of the split.
    assert table.filenames.index("disco.00099.wav") not in tested


def test_artist_filter_folds_need_every_song(tmp_path: Path) -> None:
    header, rows = read_rows()
    partial = load_table(write_csv(tmp_path / "t.csv", header, rows[:500]))
    assert not has_artist_filter_split(partial)
    assert has_artist_filter_split(load_table(bundled_table_path()))
    with pytest.raises(ModelError, match="not in the table"):
        artist_filter_folds(partial)


def test_stratified_folds_balance_genres(table: FeatureTable) -> None:
    folds = stratified_folds(table.labels, n_splits=5, seed=0)
    assert len(folds) == 5
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(1000))
    for fold in folds:
        assert len(fold.test) == 200
        assert np.unique(table.labels[fold.test], return_counts=True)[1].tolist() == [20] * 10
        assert not set(fold.train) & set(fold.test)
        np.testing.assert_array_equal(fold.train_groups, fold.train)


def test_group_folds_keep_each_group_on_one_side(table: FeatureTable) -> None:
    groups = np.array([f"a{i // 4}" for i in range(len(table))])
    for fold in group_folds(table.labels, groups, n_splits=5, seed=0):
        assert not set(groups[fold.train]) & set(groups[fold.test])
        np.testing.assert_array_equal(fold.train_groups, groups[fold.train])
