"""Scoring the song spaces on a folder of audio and on an indexed library.

The folder holds three groups of synthetic clips with clearly different timbres (noisy tones,
white noise, fast high steps): any space that hears anything puts a track's group first, so
precision must beat chance, and regrouping the same files by crossing album tags must lose it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from indexer.audio.analyse import SongRecord
from indexer.audio.embedding import SoundDescription
from indexer.audio.excerpts import (
    ShortTrack,
    TrackAnalysis,
    analyse_track,
    excerpt_bounds,
    window_bounds,
)
from indexer.cli import main
from indexer.errors import ParameterError
from indexer.evaluation.own_music import (
    GTZAN_LDA,
    Collection,
    analyse_folder,
    collection_vectors,
    evaluate_collection,
    group_of,
    gtzan_scaler,
    library_collection,
)
from indexer.evaluation.own_music_report import (
    COLUMNS,
    compare,
    read_csv,
    results_frame,
    write_csv,
)
from indexer.library import Library
from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.scaler import SCALER_FILENAME, fit_scaler, save_scaler
from indexer.model.spaces import FEATURES, SOUND
from indexer.settings import Settings
from tests.helpers import make_settings, noise, stepped_tone, write_audio, write_tags, write_tone

SECONDS = 21.0  # just over the 20-s minimum, so the command's defaults keep every clip
GROUPS = ("noise", "steps", "tones")


def _clip(group: str, i: int) -> np.ndarray:
    if group == "tones":
        t = np.arange(round(SECONDS * 22050)) / 22050
        rng = np.random.default_rng(i)
        tone = 0.5 * np.sin(2 * np.pi * (300 + 40 * i) * t)
        return (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    if group == "noise":
        return noise(seconds=SECONDS, seed=i)
    steps = [2000 + 500 * ((j + i) % 4) for j in range(int(SECONDS / 0.125))]
    return stepped_tone(steps, step_s=0.125)


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three folders of three clips; album tags cross the folders (album i takes clip i)."""
    root = tmp_path_factory.mktemp("music")
    for group in GROUPS:
        for i in range(3):
            path = write_audio(root / group / f"{group}{i}.flac", _clip(group, i))
            write_tags(path, artist="Band", album=f"Album {i}")
    write_tone(root / "tones" / "jingle.flac", seconds=5.0)  # under 20 s: left out
    (root / "noise" / "broken.flac").write_bytes(b"fLaC but not really" * 50)
    return root


@pytest.fixture(scope="module")
def by_album(music: Path) -> Collection:
    """The folder analysed with 5-s windows, so every 21-s clip also gives two excerpts."""
    return analyse_folder(
        music, group_by="album", window_s=5.0, excerpt_min_s=15.0, min_duration_s=20.0
    )


def test_window_and_excerpts_match_the_decoder_and_do_not_overlap() -> None:
    assert window_bounds(55, sr=10, window_s=5) == (0, 55)  # 5.5 s <= one window + 1 s slack
    assert window_bounds(1000, sr=10, window_s=30) == (350, 650)
    (a, b), (c, d) = excerpt_bounds(1000, sr=10, window_s=30)
    assert (b - a, d - c) == (300, 300)
    assert b <= 500 <= c
    with pytest.raises(ParameterError):
        excerpt_bounds(500, sr=10, window_s=30)


def test_one_decode_gives_the_window_and_two_excerpts(music: Path) -> None:
    path = music / "tones" / "tones0.flac"
    result = analyse_track(path, window_s=5.0, excerpt_min_s=15.0, min_duration_s=20.0)
    assert isinstance(result, TrackAnalysis)
    assert result.features.shape == (57,)
    assert result.embedding is not None
    assert result.embedding.shape == (400,)
    assert result.excerpt_features.shape == (2, 57)
    assert result.excerpt_embeddings.shape == (2, 400)
    assert (result.artist, result.album) == ("Band", "Album 0")
    short = analyse_track(music / "tones" / "jingle.flac")
    assert isinstance(short, ShortTrack)
    assert short.duration_s == pytest.approx(5.0, abs=0.05)


def test_group_labels() -> None:
    root = Path("/music")
    track = Path("/music/Artist/Album/01.flac")
    assert group_of(track, artist="A", album="B", by="folder", root=root) == "Artist/Album"
    assert group_of(Path("/music/x.flac"), artist=None, album=None, by="folder", root=root) == (
        "music"
    )
    assert group_of(track, artist="A", album="B", by="album", root=root) == "A — B"
    assert group_of(track, artist=None, album=None, by="album", root=root) == ""
    assert group_of(track, artist="A", album=None, by="artist", root=root) == "A"
    with pytest.raises(ParameterError):
        group_of(track, artist="A", album="B", by="genre", root=root)


def test_evaluate_audio_by_folder(
    music: Path, runner, tmp_path: Path, trained_model_dir: Path
) -> None:
    csv = tmp_path / "scores.csv"
    out = tmp_path / "report"
    settings = make_settings(tmp_path / "data", "sqlite://", trained_model_dir)
    args = ["--data-dir", str(settings.data_dir), "evaluate", "--audio", str(music)]
    result = runner.invoke(main, [*args, "--workers", "2", "--csv", str(csv), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "9 tracks in 3 groups by folder" in result.output
    assert "1 shorter than 20 s" in result.output
    assert "unreadable: " in result.output
    assert "broken.flac" in result.output
    assert (out / "own_music.png").stat().st_size > 0

    report = json.loads((out / "own_music.json").read_text())
    assert report["groups"] == dict.fromkeys(GROUPS, 3)
    assert list(report["spaces"]) == [SOUND, FEATURES, GTZAN_LDA]
    assert report["n_long_tracks"] == 0  # none is 70 s long
    for space in (SOUND, FEATURES):
        scores = report["spaces"][space]
        assert scores["precision@1"]["chance"] == pytest.approx(2 / 8)
        assert scores["precision@1"]["value"] > scores["precision@1"]["chance"]
        assert "precision@10" not in scores  # 10 neighbours need 11 tracks
        assert set(scores["per_group"]) == set(GROUPS)
        assert "k_occurrence_skewness" in scores["hubness"]

    # The CSV holds the same numbers, reads back, and set beside itself changes nothing.
    table = read_csv(csv)
    overall = table[table["scope"] == "all"].set_index("space")
    assert list(overall.index) == [SOUND, FEATURES, GTZAN_LDA]
    for space in (SOUND, FEATURES):
        assert overall.loc[space, "precision@1"] == pytest.approx(
            report["spaces"][space]["precision@1"]["value"]
        )
    per_group = table[table["scope"] == "group"]
    assert sorted(per_group["group"].unique()) == list(GROUPS)
    assert len(per_group) == 3 * 3
    same = compare(table, results_frame(report))
    assert list(same.index) == [SOUND, FEATURES, GTZAN_LDA]
    assert np.allclose(same[("p@1", "change")], 0.0)


def test_compare_shows_what_changed(tmp_path: Path) -> None:
    before = pd.DataFrame(
        [
            {"space": "features", "scope": "all", "group": "", "precision@1": 0.5},
            {"space": "gtzan-lda", "scope": "all", "group": "", "precision@1": 0.4},
        ]
    ).reindex(columns=list(COLUMNS))
    path = write_csv(before, tmp_path / "old" / "before.csv")
    after = before.copy()
    after.loc[0, "precision@1"] = 0.75
    after.loc[1, "space"] = "sound"
    table = compare(read_csv(path), after)
    assert list(table.index) == ["features", "sound", "gtzan-lda"]
    assert table.loc["features", ("p@1", "change")] == pytest.approx(0.25)
    assert np.isnan(table.loc["sound", ("p@1", "before")])
    assert np.isnan(table.loc["gtzan-lda", ("p@1", "after")])
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ParameterError, match="not an evaluation CSV"):
        read_csv(tmp_path / "bad.csv")


def test_the_reference_metric_is_gtzans_lda_whatever_the_data_dir_holds(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    # A fresh data dir's scaler is the features space's (no LDA): the reference row must not
    # quietly become a copy of the features row.
    for model_dir in (trained_model_dir, tmp_path / "fresh-model", None):
        lda = gtzan_scaler(model_dir)
        assert lda.projection is not None
        assert lda.dim < 57


def test_album_tags_group_and_excerpts_find_each_other(
    by_album: Collection, trained_model_dir: Path
) -> None:
    lda = gtzan_scaler(trained_model_dir)
    assert sorted(set(by_album.groups)) == [f"Band — Album {i}" for i in range(3)]
    assert by_album.left_out == {"shorter than 20 s": 1}
    assert [Path(u.path).name for u in by_album.unreadable] == ["broken.flac"]
    report = evaluate_collection(by_album, lda=lda)
    assert report["n_long_tracks"] == 9
    features = report["spaces"][FEATURES]
    # Each album holds one clip of each timbre: a track's nearest is of its own timbre, so of
    # another album. Scored against the albums, precision cannot beat chance.
    assert features["precision@1"]["value"] <= features["precision@1"]["chance"]
    for space in (SOUND, FEATURES):
        excerpts = report["spaces"][space]["excerpts"]
        assert excerpts["n_excerpts"] == 18
        assert excerpts["excerpt@1"]["chance"] == pytest.approx(1 / 17)
        assert excerpts["excerpt@1"]["value"] > excerpts["excerpt@1"]["chance"]
        assert excerpts["recall@5"]["value"] >= excerpts["excerpt@1"]["value"]


def _index(library: Library, collection: Collection) -> None:
    """Write the analysed clips into the library, as indexing does, one album per folder."""
    records = [
        SongRecord(
            path=name,
            content_hash=f"{i:064x}",
            size_bytes=1000 + i,
            mtime_ns=i,
            title=Path(name).stem,
            artist="Band",
            album=Path(name).parent.name,
            duration_s=SECONDS,
            features=features,
            sound=SoundDescription(embedding=embedding, tags=np.zeros(100, dtype=np.float32)),
        )
        for i, (name, features, embedding) in enumerate(
            zip(collection.names, collection.features, collection.embeddings, strict=True)
        )
    ]
    library.write_songs(records)


def test_evaluate_library(
    library: Library, by_album: Collection, runner, settings: Settings, tmp_path: Path
) -> None:
    _index(library, by_album)
    collection = library_collection(library, group_by="album")
    assert sorted(set(collection.groups)) == [f"Band — {g}" for g in GROUPS]
    assert len(collection.excerpt_tracks) == 0  # a library keeps one window per song
    report = evaluate_collection(collection, lda=gtzan_scaler(settings.model_dir))
    for space in (SOUND, FEATURES):
        scores = report["spaces"][space]
        assert scores["precision@1"]["value"] > scores["precision@1"]["chance"]
        assert "excerpts" not in scores
    with pytest.raises(ParameterError, match="two artist groups"):
        library_collection(library, group_by="artist")  # one artist: nothing to tell apart

    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    csv = tmp_path / "library.csv"
    result = runner.invoke(main, ["evaluate", "--library", "--csv", str(csv)], env=env)
    assert result.exit_code == 0, result.output
    assert "9 tracks in 3 groups by album" in result.output
    assert "exc@1" not in result.output
    compared = runner.invoke(
        main, ["evaluate", "--library", "--group", "folder", "--compare", str(csv)], env=env
    )
    assert compared.exit_code == 0, compared.output
    assert "p@1" in compared.output
    assert "change" in compared.output


def test_evaluate_library_scores_the_vectors_the_library_answers_with(
    library: Library, by_album: Collection, settings: Settings
) -> None:
    # A scaler of the user's own, as `soundalike train` leaves one: fitted on other songs than
    # the bundled table's, so its means and spreads are not GTZAN's.
    table = load_table(bundled_table_path())
    own = fit_scaler(table.X[table.labels == "classical"], source_sha256="own", chosen=True)
    save_scaler(own, settings.model_dir / SCALER_FILENAME)
    _index(library, by_album)
    assert library.scaler.version == own.version
    collection = library_collection(library, group_by="album")
    evaluated, _ = collection_vectors(collection, lda=gtzan_scaler(settings.model_dir))
    ids = library.song_ids_by_path(collection.names)
    songs = library.get_songs(list(ids.values()))
    for space in (SOUND, FEATURES):
        library.sync_index(space=space)
        index, _ = library.load_index(space=space)
        answered = library.song_vectors(
            [songs[ids[name]] for name in collection.names], index, space=space
        )
        np.testing.assert_allclose(evaluated[space], answered, atol=1e-5)
