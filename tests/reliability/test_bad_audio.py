"""A generated corpus of bad and odd audio: each file is indexed with finite features or skipped
with its name and reason, and the run goes on to the end with exit status 3."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from indexer.cli import main
from indexer.cli.context import EXIT_SKIPPED
from indexer.ingest.pipeline import index_paths
from indexer.ingest.scan import scan_library
from indexer.library import Library
from indexer.settings import Settings
from tests.helpers import write_tone

SR = 22050
RNG = np.random.default_rng(5)
INDEXED = "indexed"


def tone(seconds: float, *, sr: int = SR, freq_hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq_hz * t) + 0.01 * RNG.standard_normal(t.size)).astype(
        np.float32
    )


def truncated(path: Path, fmt: str, subtype: str | None = None) -> None:
    sf.write(path, tone(3.0), SR, format=fmt, subtype=subtype)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def two_hours(path: Path) -> None:
    # 8 kHz 16-bit keeps the file at 115 MB; only the middle 30 s is decoded.
    sr = 8000
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        block = tone(60.0, sr=sr, freq_hz=300.0)
        for _ in range(120):
            f.write(block)


def build_corpus(root: Path) -> dict[str, str]:
    """Write every case; returns file name -> INDEXED or a pattern its skip reason matches."""
    root.mkdir(parents=True)
    expected: dict[str, str] = {}

    def case(name: str, outcome: str) -> Path:
        expected[name] = outcome
        return root / name

    case("empty.wav", "empty").write_bytes(b"")
    truncated(case("truncated.wav", INDEXED), "WAV")
    truncated(case("truncated.flac", INDEXED), "FLAC")
    truncated(case("truncated.ogg", INDEXED), "OGG", "VORBIS")
    truncated(case("truncated.mp3", INDEXED), "MP3")
    for ext in ("wav", "flac", "mp3", "ogg", "m4a", "opus"):
        case(f"random.{ext}", "not|no audio|invalid|format|decode").write_bytes(RNG.bytes(50_000))
    case("text.mp3", "not|no audio|invalid|format").write_text("ID3? no, a shopping list\n" * 50)
    sf.write(case("header-only.wav", "no audio frames"), np.zeros(0), SR)
    sf.write(case("header-only.ogg", "no audio frames"), np.zeros(0), SR, format="OGG")
    sf.write(case("0.1s.wav", "need at least 0.5 s"), tone(0.1), SR)
    sf.write(case("0.5s.wav", INDEXED), tone(0.5), SR)
    two_hours(case("2h.wav", INDEXED))
    sf.write(case("silence.wav", INDEXED), np.zeros(2 * SR, np.float32), SR)
    sf.write(case("dc-offset.wav", INDEXED), np.full(2 * SR, 0.7, np.float32), SR)
    sf.write(case("clipped.wav", INDEXED), np.clip(4 * tone(2.0), -1, 1), SR)
    sf.write(case("8khz.wav", INDEXED), tone(2.0, sr=8000), 8000)
    sf.write(case("192khz.flac", INDEXED), tone(2.0, sr=192000), 192000)
    sf.write(case("6ch.wav", INDEXED), np.stack([tone(2.0)] * 6, axis=1), SR)
    sf.write(case("8bit.wav", INDEXED), tone(2.0), SR, subtype="PCM_U8")
    sf.write(case("float32.wav", INDEXED), tone(2.0), SR, subtype="FLOAT")
    sf.write(
        case("float-nan.wav", "non-finite"),
        np.where(np.arange(2 * SR) % 1000 == 0, np.nan, tone(2.0)).astype(np.float32),
        SR,
        subtype="FLOAT",
    )
    (root / "dossier été 音楽").mkdir()
    expected["dossier été 音楽/ça va — ok ♫.wav"] = INDEXED
    write_tone(root / "dossier été 音楽" / "ça va — ok ♫.wav", seconds=2.0)
    locked = write_tone(case("unreadable.wav", "permission denied"), seconds=2.0)
    locked.chmod(0)
    if os.geteuid() == 0:
        expected["unreadable.wav"] = INDEXED  # root reads it anyway
    os.symlink("loop-b.wav", case("loop-a.wav", "symbolic links|not found|loop"))
    os.symlink("loop-a.wav", case("loop-b.wav", "symbolic links|not found|loop"))
    os.symlink("nowhere.wav", case("dangling.wav", "not found|No such file"))
    os.symlink(".", root / "dir-loop")  # a folder loop must not hang the scan
    return expected


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_audio_corpus(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "corpus"
    expected = build_corpus(root)
    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(
        main, ["index", str(root), "--workers", "1", "--no-progress"], env=env
    )
    assert result.exit_code == EXIT_SKIPPED, result.output
    skipped = dict(
        re.findall(r"^  (.+?): (.+)$", result.stderr, flags=re.MULTILINE)  # path: reason
    )
    library = Library(settings)
    every = library.get_songs(library.all_ids().tolist())
    songs = {Path(s.path).relative_to(root).as_posix(): s for s in every.values()}
    # Every indexed song is in the features space (the sound space needs 3 s of audio).
    index, _ = library.load_index(space="features")
    library.close()
    outcomes = {name: skipped.get(str(root / name), INDEXED) for name in expected}
    print(f"bad-audio corpus: {len(expected)} files, {len(skipped)} skipped")
    for name, outcome in sorted(outcomes.items()):
        print(f"  {name}: {outcome}")
    for name, outcome in expected.items():
        if outcome == INDEXED:
            assert name in songs, f"{name} was skipped: {outcomes[name]}"
            assert np.isfinite(songs[name].feature_vector).all()
            assert index.reconstruct(songs[name].id) is not None
        else:
            assert name not in songs, f"{name} should be skipped ({outcome})"
            assert re.search(outcome, outcomes[name], flags=re.IGNORECASE), (name, outcomes[name])
    assert set(songs) == {n for n, o in expected.items() if o == INDEXED}
    assert len(index) == len(songs)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_file_deleted_between_scan_and_analysis_is_skipped(
    tmp_path: Path, library: Library
) -> None:
    root = tmp_path / "music"
    for freq in (300, 400, 500):
        write_tone(root / f"t{freq}.wav", freq_hz=freq, seconds=1.0)
    paths = scan_library(root)
    (root / "t400.wav").unlink()
    report = index_paths(library, paths, root=root)
    assert report.added == 2
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("t400.wav", "No such file or directory")
    ]
