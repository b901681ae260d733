"""The admin command line, run through click's CliRunner."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.audio.feature_columns import FEATURE_NAMES
from indexer.cli import main
from indexer.cli.context import EXIT_SKIPPED
from indexer.cli.indexing import TRAINING_MESSAGE
from indexer.settings import Settings
from tests.helpers import write_tone


def invoke(runner: CliRunner, settings: Settings, *args: str):
    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    for freq in (220, 330, 440, 550):
        write_tone(root / f"tone{freq}.wav", freq_hz=freq, seconds=2.0)
    return root


def test_index_similar_remove_stats(runner: CliRunner, settings: Settings, music: Path) -> None:
    result = invoke(runner, settings, "index", str(music), "--workers", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "4 added" in result.output

    stats = json.loads(invoke(runner, settings, "stats", "--json").output)
    assert stats["songs"] == 4
    assert stats["indexed"] == 4

    result = invoke(runner, settings, "similar", str(music / "tone220.wav"), "-k", "2", "--json")
    payload = json.loads(result.output)
    assert payload["song"]["title"] == "tone220"
    assert len(payload["neighbours"]) == 2
    assert all(n["genre"]["label"] for n in payload["neighbours"])

    table = invoke(runner, settings, "similar", "1", "-k", "3").output
    assert "score" in table
    assert len(table.strip().splitlines()) == 5

    result = invoke(runner, settings, "remove", str(music / "tone330.wav"))
    assert "1 song(s) removed" in result.output
    stats = json.loads(invoke(runner, settings, "stats", "--json").output)
    assert stats["songs"] == 3
    assert stats["indexed"] == 3

    rebuilt = invoke(runner, settings, "rebuild")
    assert "3 songs" in rebuilt.output


def test_add_reports_skipped_files(runner: CliRunner, settings: Settings, tmp_path: Path) -> None:
    good = write_tone(tmp_path / "good.wav")
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS but not really")
    result = runner.invoke(
        main,
        ["add", str(good), str(bad)],
        env={"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url},
    )
    assert result.exit_code == EXIT_SKIPPED
    assert "1 added" in result.output
    assert "bad.ogg" in result.output


def test_unknown_song_is_a_clear_error(runner: CliRunner, settings: Settings) -> None:
    result = runner.invoke(
        main,
        ["similar", "999"],
        env={"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url},
    )
    assert result.exit_code == 1
    assert "no song" in result.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_features_csv_has_the_gtzan_columns(
    runner: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    tone = write_tone(tmp_path / "tone.wav", seconds=1.0)
    result = invoke(runner, settings, "features", str(tone), "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["filename", *FEATURE_NAMES]
    assert rows[1][0] == "tone.wav"
    assert len(rows[1]) == 58
    as_json = json.loads(invoke(runner, settings, "features", str(tone), "--format", "json").output)
    assert list(as_json[0]) == ["filename", *FEATURE_NAMES]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_train_on_a_users_table_relabels_the_library(
    runner: CliRunner, settings: Settings, music: Path, small_table: Path
) -> None:
    invoke(runner, settings, "index", str(music), "--workers", "1", "--no-progress")
    before = json.loads(invoke(runner, settings, "stats", "--json").output)
    result = invoke(runner, settings, "train", "--table", str(small_table))
    assert "Training on 200 rows, 10 genres" in result.output
    assert "group_kfold: accuracy" in result.output
    assert "stratified_kfold: accuracy" in result.output
    assert "4 song(s) relabelled" in result.output
    after = json.loads(invoke(runner, settings, "stats", "--json").output)
    assert after["model_version"] != before["model_version"]
    # The metric is refitted on the same table, and the index rebuilt with it.
    saved = json.loads((settings.model_dir / "scaler.json").read_text())
    assert saved["source_sha256"] == hashlib.sha256(small_table.read_bytes()).hexdigest()
    assert after["scaler_version"] != before["scaler_version"]
    # The metric shapes the features space, the one these short clips are all in.
    assert after["spaces"]["features"]["indexed"] == after["songs"] == 4
    manifest = json.loads((settings.index_dir / "features" / "manifest.json").read_text())
    assert manifest["scaler_version"] == after["scaler_version"]
    # By default XGBoost is the classifier: no logistic regression is stored.
    meta = json.loads((settings.model_dir / "genre_model.meta.json").read_text())
    assert meta["linear"]["coef"] is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_train_can_blend_a_logistic_regression(
    runner: CliRunner, settings: Settings, small_table: Path
) -> None:
    invoke(runner, settings, "train", "--table", str(small_table), "--keep-metric")
    trees = json.loads((settings.model_dir / "genre_model.meta.json").read_text())
    result = invoke(
        runner, settings, "train", "--table", str(small_table), "--keep-metric", "--blend-linear"
    )
    assert "group_kfold: accuracy" in result.output
    blend = json.loads((settings.model_dir / "genre_model.meta.json").read_text())
    assert len(blend["linear"]["coef"]) == 10
    assert blend["params"]["logreg_C"] == 0.1
    assert blend["version"] != trees["version"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_train_can_keep_the_metric(
    runner: CliRunner, settings: Settings, music: Path, small_table: Path
) -> None:
    invoke(runner, settings, "index", str(music), "--workers", "1", "--no-progress")
    before = json.loads(invoke(runner, settings, "stats", "--json").output)["scaler_version"]
    invoke(runner, settings, "train", "--table", str(small_table), "--keep-metric")
    after = json.loads(invoke(runner, settings, "stats", "--json").output)["scaler_version"]
    assert after == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_evaluate_reports_every_metric_and_writes_figures(
    runner: CliRunner, settings: Settings, small_table: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = invoke(
        runner, settings, "evaluate", "--table", str(small_table), "--json", "--out", str(out)
    )
    report = json.loads(result.output[result.output.index("{") :])
    assert set(report["neighbours"]) == {"group_kfold", "stratified_kfold"}
    metrics = report["neighbours"]["group_kfold"]
    assert set(metrics) == {"raw_cosine", "standardized_cosine", "lda"}
    assert (
        metrics["standardized_cosine"]["precision@5"]["mean"]
        > (metrics["raw_cosine"]["precision@5"]["mean"])
    )
    assert "ece_pooled" in report["genre"]["group_kfold"]
    assert report["genre_model"] == "xgboost"
    floor = report["genre"]["group_kfold"]["ece_pooled_floor"]
    assert 0 < floor["mean"] < report["genre"]["group_kfold"]["ece_floor"]["mean"]
    assert set(report["walks"]) == {"paths", "playlists", "seconds"}
    assert {p.name for p in out.iterdir()} == {
        "evaluation.json",
        "confusion.png",
        "reliability.png",
        "song_map.png",
    }


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_evaluate_prints_the_blend_and_the_ece_floor(
    runner: CliRunner, settings: Settings, small_table: Path
) -> None:
    result = invoke(runner, settings, "evaluate", "--table", str(small_table), "--blend-linear")
    assert "Genre model (XGBoost + logistic regression" in result.output
    assert "a perfectly calibrated model shows" in result.output


def test_bad_table_is_a_clear_error(runner: CliRunner, settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("filename,label\nx.wav,rock\n")
    result = runner.invoke(
        main,
        ["train", "--table", str(bad)],
        env={"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url},
    )
    assert result.exit_code == 1
    assert "chroma_stft_mean" in result.output


def test_similar_reranks_explains_and_takes_seeds(
    runner: CliRunner, settings: Settings, music: Path
) -> None:
    result = invoke(runner, settings, "index", str(music), "--workers", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    plain = json.loads(invoke(runner, settings, "similar", "1", "--json").output)
    order = [n["id"] for n in plain["neighbours"]]
    args = ["similar", "1", "--json", "--exclude", str(order[0]), "--explain", "--explain-drops"]
    body = json.loads(invoke(runner, settings, *args).output)
    assert [n["id"] for n in body["neighbours"]] == order[1:]
    assert body["dropped"] == [
        {"id": order[0], "reason": "excluded", "detail": "excluded by the query"}
    ]
    for n in body["neighbours"]:
        parts = n["explanation"]["parts"]
        assert sum(parts.values()) == pytest.approx(n["explanation"]["cosine"], abs=1e-9)
    seeds = json.loads(invoke(runner, settings, "similar", "1", "2", "--not", "3", "--json").output)
    assert [s["id"] for s in seeds["seeds"]] == [1, 2]
    assert [n["id"] for n in seeds["neighbours"]] == [4]
    table = invoke(runner, settings, "similar", "1", "--explain", "--mode", "union").output
    assert "tempo" in table
    bad = runner.invoke(main, ["similar", "1", "--mmr-lambda", "2"])
    assert bad.exit_code == 2


def test_index_follows_symlinked_folders(
    runner: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    share = tmp_path / "nas"
    write_tone(share / "Alpha" / "a.wav", freq_hz=220, seconds=2.0)
    write_tone(share / "Beta" / "b.flac", freq_hz=440, seconds=2.0)
    music = tmp_path / "music"
    music.mkdir()
    for name in ("Alpha", "Beta"):
        (music / name).symlink_to(share / name, target_is_directory=True)
    (music / "Best of").symlink_to(share / "Alpha", target_is_directory=True)
    (share / "Beta" / "loop").symlink_to(music, target_is_directory=True)

    result = invoke(runner, settings, "index", str(music), "--workers", "1", "--no-progress")

    assert result.exit_code == 0, result.output
    assert "Scanned 2 file(s)" in result.output
    assert "2 added" in result.output
    for path in (music / "Alpha" / "a.wav", music / "Beta" / "b.flac"):
        found = json.loads(invoke(runner, settings, "similar", str(path), "--json").output)
        assert found["song"]["path"] == str(path)


def test_a_path_without_audio_is_an_error_and_changes_nothing(
    runner: CliRunner, settings: Settings, music: Path, tmp_path: Path
) -> None:
    invoke(runner, settings, "index", str(music), "--workers", "1", "--no-progress")
    for path in music.iterdir():
        path.unlink()
    (music / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    empty = tmp_path / "empty"
    empty.mkdir()

    indexed = invoke(runner, settings, "index", str(music), "--no-progress")
    added = invoke(runner, settings, "add", str(empty), str(music))

    assert indexed.exit_code == 1
    assert f"Error: no audio files found in {music} (looked for files named" in indexed.output
    assert "Nothing was indexed or removed." in indexed.output
    assert added.exit_code == 1
    assert f"no audio files found in {empty}, {music} (" in added.output
    assert "Nothing was added." in added.output
    assert json.loads(invoke(runner, settings, "stats", "--json").output)["songs"] == 4


def test_first_run_says_it_trains_and_times_the_scan_apart(
    runner: CliRunner, tmp_path: Path, music: Path
) -> None:
    # A fresh data dir with no model: the run trains the genre model before analysing anything.
    # SQLite only: the database plays no part in what is printed, and training takes seconds.
    data_dir = tmp_path / "fresh"
    env = {"SOUNDALIKE_DATA_DIR": str(data_dir), "DATABASE_URL": ""}
    result = runner.invoke(main, ["index", str(music), "--workers", "1"], env=env)

    assert result.exit_code == 0, result.output
    training = result.output.index(TRAINING_MESSAGE)
    # tqdm's indexing bar counts tracks; the training bar before it counts fits.
    assert training < result.output.index("track")
    assert "fit" in result.output[training:]
    summary = re.search(
        r"Scanned 4 file\(s\) in ([\d.]+) s after ([\d.]+) s preparing", result.output
    )
    assert summary, result.output
    scanned_s, prepared_s = map(float, summary.groups())
    # Training on the full GTZAN table takes seconds; analysing four 2 s tones on warm kernels
    # takes well under that, so a scan time that included the training would exceed it.
    assert prepared_s > scanned_s
    assert (data_dir / "model").is_dir()

    again = runner.invoke(main, ["index", str(music), "--workers", "1"], env=env)
    assert again.exit_code == 0, again.output
    assert TRAINING_MESSAGE not in again.output
