"""The beets plugin against real beets: a beets library built here, the real ``beet`` commands.

Each ``beet`` run is a subprocess with its own config dir (BEETSDIR), as a user's would be; the
Soundalike rows are then read through `Library`, and the audio URL through the service.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.audio.analyse import file_hash
from indexer.library import Library
from indexer.settings import Settings
from tests.helpers import (
    create_pg_database,
    drop_pg_database,
    make_settings,
    write_tags,
    write_tone,
)

# Four tones: two close together, two far apart, each its own album.
TONES = {"low": 220.0, "a440": 440.0, "a466": 466.0, "high": 3000.0}


def make_clips(folder: Path) -> dict[str, Path]:
    """One tagged FLAC per tone, in an album folder each (4 s: one network patch and more)."""
    clips = {}
    for name, freq_hz in TONES.items():
        path = write_tone(folder / name / f"{name}.flac", freq_hz=freq_hz, seconds=4.0)
        write_tags(path, title=f"{name} file title", artist=f"artist {name}", album=name)
        clips[name] = path
    return clips


class Beets:
    """A beets config dir with the plugin enabled, and the ``beet`` command on it."""

    def __init__(self, root: Path, settings: Settings, *, auto: bool) -> None:
        self.root = root
        self.settings = settings
        config_dir = root / "beetsdir"
        config_dir.mkdir()
        (config_dir / "config.yaml").write_text(
            f"directory: {root / 'music'}\n"
            f"library: {root / 'beets.db'}\n"
            "plugins: soundalike\n"
            "import:\n  copy: no\n  write: yes\n  quiet: yes\n"
            "soundalike:\n"
            f"  data_dir: {settings.data_dir}\n"
            f"  database_url: {settings.database_url}\n"
            "  workers: 1\n"
            f"  auto: {'yes' if auto else 'no'}\n",
            encoding="utf-8",
        )
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SOUNDALIKE_", "DATABASE"))
        }
        self.env["BEETSDIR"] = str(config_dir)
        self.env["HOME"] = str(root)

    def run(self, *args: str) -> str:
        """``beet ARGS``; its stdout and stderr together, failing the test on a non-zero exit."""
        done = subprocess.run(
            [sys.executable, "-m", "beets", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def library(self) -> Library:
        """The Soundalike library the plugin writes to."""
        return Library(self.settings)


def songs_by_title(library: Library) -> dict[str, object]:
    songs = library.list_songs_after(limit=100)
    return {song.title: song for song in songs}


@pytest.fixture
def sqlite_settings(tmp_path: Path, trained_model_dir: Path) -> Settings:
    return make_settings(
        tmp_path / "data", f"sqlite:///{tmp_path / 'soundalike.db'}", trained_model_dir
    )


def test_index_skip_similar_and_sonicmix(tmp_path: Path, sqlite_settings: Settings) -> None:
    clips = make_clips(tmp_path / "incoming")
    beets = Beets(tmp_path, sqlite_settings, auto=False)
    beets.run("import", "-A", str(tmp_path / "incoming"))
    # A title changed in beets' database only: the row must carry beets' tags, not the file's.
    beets.run("modify", "-y", "-W", "album:a440", "title=A440 in beets")
    library = beets.library()
    assert library.count_songs() == 0  # auto is off: the import indexed nothing

    out = beets.run("soundalike")
    assert "4 added" in out
    songs = songs_by_title(library)
    assert set(songs) == {"A440 in beets", "low file title", "a466 file title", "high file title"}
    assert songs["A440 in beets"].path == str(clips["a440"])
    assert songs["A440 in beets"].artist == "artist a440"
    assert songs["A440 in beets"].audio_hash is not None

    out = beets.run("soundalike", "album:low")
    assert "0 added" in out
    assert "1 unchanged" in out

    out = beets.run("similar", "album:a440", "-k", "2", "-f", "$album|$similarity")
    lines = out.strip().splitlines()
    assert len(lines) == 2
    albums = [line.split("|")[0] for line in lines]
    scores = [float(line.split("|")[1]) for line in lines]
    assert "a440" not in albums
    assert albums[0] == "a466"  # the nearest tone
    assert scores[0] >= scores[1]

    out_file = tmp_path / "mixes" / "mix.m3u8"
    beets.run("sonicmix", "album:a440", "-n", "3", "-o", str(out_file))
    text = out_file.read_text(encoding="utf-8").splitlines()
    assert text[0] == "#EXTM3U"
    entries = [line for line in text if not line.startswith("#")]
    assert len(entries) == 3
    assert (out_file.parent / entries[0]).resolve() == clips["a440"].resolve()
    assert text[1].startswith("#EXTINF:4,artist a440 - A440 in beets")
    library.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_settings(
    request: pytest.FixtureRequest, tmp_path: Path, trained_model_dir: Path
) -> Iterator[Settings]:
    """Soundalike's settings on SQLite, and once on the real PostgreSQL."""
    if request.param == "sqlite":
        yield make_settings(
            tmp_path / "data", f"sqlite:///{tmp_path / 'soundalike.db'}", trained_model_dir
        )
        return
    url = create_pg_database()
    yield make_settings(tmp_path / "data", url, trained_model_dir)
    drop_pg_database(url)


def test_auto_import_tag_edit_move_and_remove(tmp_path: Path, any_settings: Settings) -> None:
    clips = make_clips(tmp_path / "incoming")
    beets = Beets(tmp_path, any_settings, auto=True)
    # -v: beets shows a plugin's event-time messages (the summary) only when verbose.
    out = beets.run("-v", "import", "-A", str(tmp_path / "incoming"))
    assert "4 added" in out
    library = beets.library()
    assert library.count_songs() == len(TONES)

    before = library.resolve_song(str(clips["a440"]))
    out = beets.run("-v", "modify", "-y", "album:a440", "title=Edited in beets")
    # The tag write changed the file's bytes but not its audio: refreshed, not analysed again.
    assert "0 updated, 1 refreshed" in out
    after = library.get_song(before.id)
    info = clips["a440"].stat()
    assert (after.size_bytes, after.mtime_ns) == (info.st_size, info.st_mtime_ns)
    assert (after.size_bytes, after.mtime_ns) != (before.size_bytes, before.mtime_ns)
    assert after.content_hash == file_hash(clips["a440"]) != before.content_hash
    assert after.title == "Edited in beets"
    assert after.features == before.features
    assert after.embedding == before.embedding
    assert after.audio_hash == before.audio_hash

    # The service serves the edited file: the row matches it again.
    from service import create_app

    app = create_app({"data_dir": any_settings.data_dir, "database_url": any_settings.database_url})
    with app.test_client() as client:
        response = client.get(f"/api/songs/{before.id}/audio")
        assert response.status_code == 200
        assert response.data == clips["a440"].read_bytes()
        response.close()
    app.extensions["soundalike"].library.engine.dispose()

    if library.engine.dialect.name != "sqlite":
        library.close()
        return  # moves and removals are the same rows on both databases; each beet run costs
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = beets.run("-v", "move", "-d", str(elsewhere), "album:low")
    assert "1 moved" in out
    moved_to = next(elsewhere.rglob("*.flac"))
    low = library.resolve_song(str(moved_to))
    assert low.title == "low file title"
    assert not clips["low"].exists()

    out = beets.run("-v", "remove", "-f", "album:high")
    assert "1 removed" in out
    assert library.song_ids_by_path([str(clips["high"])]) == {}
    assert library.count_songs() == len(TONES) - 1
    index, _ = library.load_index()
    assert len(index) == len(TONES) - 1
    library.close()
