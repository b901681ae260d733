"""Existing libraries: songs indexed before the sound description get it, features untouched."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import insert

from db.models import Song
from db.session import create_db_engine, upgrade
from indexer.audio.analyse import SongRecord, SoundRecord, analyse_file, audio_hash
from indexer.audio.decode import decode_window
from indexer.audio.embedding import EMBEDDING_VERSION, STORED_DIM, STORED_TAGS
from indexer.audio.features import SR
from indexer.cli import main
from indexer.cli.context import EXIT_SKIPPED
from indexer.ingest.backfill import backfill_sounds
from indexer.ingest.pipeline import index_paths
from indexer.ingest.plan import sound_jobs
from indexer.ingest.scan import scan_library
from indexer.ingest.workers import analyse_paths
from indexer.ingest.write import IndexReport, write_results
from indexer.library import Library
from indexer.model.spaces import FEATURES, SOUND
from indexer.settings import Settings
from indexer.vectors.store import read_manifest
from tests.helpers import old_song_row, write_tags, write_tone

# Long enough for one of the network's 3-s patches; a 1.5-s clip is too short for it.
LONG_S = 3.2
SHORT_S = 1.5


def tones(root: Path, freqs: Iterable[int], *, seconds: float = LONG_S) -> list[Path]:
    return [write_tone(root / f"tone{f}.wav", freq_hz=f, seconds=seconds) for f in freqs]


def test_upgrade_from_0003_then_backfill_fills_rows_and_keeps_features(
    tmp_path: Path, settings: Settings
) -> None:
    music = tmp_path / "music"
    files = [*tones(music, [220, 330]), write_tone(music / "short.wav", seconds=SHORT_S)]
    engine = create_db_engine(settings.database_url)
    upgrade(engine, "0003")
    with engine.begin() as conn:
        conn.execute(insert(Song.__table__), [old_song_row(p, n) for n, p in enumerate(files)])
    engine.dispose()

    library = Library(settings)  # opening the library migrates it to the head
    try:
        before = {s.path: s for s in library.list_songs_after(limit=10)}
        assert library.count_missing_embeddings() == 3
        assert not library.sound_space()["complete"]
        library.sync_index()

        report = backfill_sounds(library, batch_size=2)
        assert (report.scanned, report.described, report.too_short) == (3, 3, 1)
        assert report.skipped == []
        assert library.count_missing_embeddings() == 0
        assert library.sound_space() == {"complete": True, "missing": 0}

        after = {s.path: s for s in library.list_songs_after(limit=10)}
        for path, song in after.items():
            assert song.features == before[path].features  # the 57 were not recomputed
            assert song.embedding_version == EMBEDDING_VERSION
            # Later than the last sync's newest row: the next sync looks at this row again.
            assert song.updated_at > before[path].updated_at
        short = after[str(files[2])]
        assert short.embedding is None
        assert short.tag_probabilities is None
        for path in files[:2]:
            song = after[str(path)]
            assert song.embedding_vector.shape == (STORED_DIM,)
            assert song.tag_vector.shape == (STORED_TAGS,)
            # What one full analysis of the file stores: the same window, the same networks.
            whole = analyse_file(path, window_s=settings.window_s)
            assert isinstance(whole, SongRecord)
            assert whole.sound is not None
            np.testing.assert_allclose(song.embedding_vector, whole.sound.embedding, atol=1e-5)
            np.testing.assert_allclose(song.tag_vector, whole.sound.tags, atol=1e-6)
            # The row learns its window's audio hash, so a later tag edit only refreshes it.
            assert song.audio_hash == whole.audio_hash
        manifest = read_manifest(library.index_dir(FEATURES))
        assert manifest is not None
        assert manifest.count == 3
        sound = read_manifest(library.index_dir(SOUND))
        assert sound is not None
        assert (sound.count, sound.missing) == (2, 0)

        again = backfill_sounds(library)
        assert (again.scanned, again.described) == (0, 0)  # the short clip is not retried
    finally:
        library.close()


def interrupted(results: Iterator, *, after: int) -> Iterator:
    """The real results, then Ctrl-C once ``after`` of them were handed on."""
    for n, result in enumerate(results):
        if n == after:
            raise KeyboardInterrupt
        yield result


def test_an_interrupted_backfill_loses_one_batch_and_a_rerun_finishes(
    tmp_path: Path, library: Library
) -> None:
    files = tones(tmp_path / "music", [200, 300, 400, 500])
    library.insert_songs_bulk([old_song_row(p, n) for n, p in enumerate(files)])
    jobs = sound_jobs(library.files_missing_embeddings())
    results = analyse_paths(jobs, workers=1, window_s=library.settings.window_s, features=False)
    report = IndexReport()
    with pytest.raises(KeyboardInterrupt):
        # Batches of two: the first is committed, the third result is in flight when it stops.
        write_results(
            library,
            interrupted(results, after=3),
            report,
            total=len(jobs),
            known=set(),
            batch_size=2,
            progress=False,
        )
    assert report.described == 2
    assert library.count_missing_embeddings() == 2

    rerun = backfill_sounds(library, batch_size=2)
    assert (rerun.scanned, rerun.described, rerun.skipped) == (2, 2, [])
    assert library.count_missing_embeddings() == 0
    assert all(song.embedding is not None for song in library.list_songs_after(limit=10))


def test_missing_corrupt_and_changed_files_are_reported_and_the_rest_filled(
    tmp_path: Path, settings: Settings, library: Library
) -> None:
    music = tmp_path / "music"
    good, changed = tones(music, [250, 350])
    corrupt = music / "corrupt.wav"
    corrupt.write_bytes(os.urandom(3000))
    gone = music / "gone.wav"
    rows = [old_song_row(p, n) for n, p in enumerate([good, changed, corrupt, gone])]
    rows[1]["mtime_ns"] = int(rows[1]["mtime_ns"]) - 10**9  # edited after it was indexed
    library.insert_songs_bulk(rows)

    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(main, ["backfill", "--no-progress", "-j", "1"], env=env)
    assert result.exit_code == EXIT_SKIPPED, result.output
    assert "Described 1 of 4 song(s)" in result.stdout
    assert "3 song(s) still lack the sound description." in result.stdout
    reasons = {
        path: line.strip().removeprefix(f"{path}: ")
        for line in result.stderr.splitlines()
        for path in map(str, (gone, changed, corrupt, good))
        if line.strip().startswith(f"{path}: ")
    }
    assert set(reasons) == {str(gone), str(changed), str(corrupt)}
    assert reasons[str(gone)] == "No such file or directory"
    assert reasons[str(changed)].startswith("changed since it was indexed")
    assert reasons[str(corrupt)]  # the decoder's reason, whichever it is
    assert library.count_missing_embeddings() == 3
    assert library.resolve_song(str(good)).embedding is not None

    stats = CliRunner().invoke(main, ["stats"], env=env)
    assert "3 song(s) lack the sound description; run `soundalike backfill`" in stats.stdout


def test_index_gives_unchanged_songs_only_the_sound_description(
    tmp_path: Path, library: Library
) -> None:
    music = tmp_path / "music"
    old = tones(music, [220, 440])
    library.insert_songs_bulk([old_song_row(p, n) for n, p in enumerate(old)])
    features = {s.path: s.features for s in library.list_songs_after(limit=10)}
    new = write_tone(music / "new.wav", freq_hz=660, seconds=LONG_S)

    report = index_paths(library, scan_library(music), root=music)
    assert (report.added, report.updated, report.unchanged, report.described) == (1, 0, 2, 2)
    songs = {s.path: s for s in library.list_songs_after(limit=10)}
    for path in old:
        assert songs[str(path)].features == features[str(path)]
        assert songs[str(path)].embedding_version == EMBEDDING_VERSION
    assert songs[str(new)].embedding is not None  # new files: both from one decode
    assert library.count_missing_embeddings() == 0

    again = index_paths(library, scan_library(music), root=music)
    assert (again.unchanged, again.described) == (3, 0)


def test_a_row_changed_while_it_was_described_is_not_overwritten(
    tmp_path: Path, library: Library
) -> None:
    (path,) = tones(tmp_path / "music", [300])
    library.insert_songs_bulk([old_song_row(path, 0)])
    (job,) = sound_jobs(library.files_missing_embeddings())
    record = next(analyse_paths([job], workers=1, window_s=library.settings.window_s))
    assert isinstance(record, SoundRecord)
    library.move_song(job.song_id, str(path), mtime_ns=job.mtime_ns + 1)  # another run wrote it
    assert library.store_sounds([record]) == []
    assert library.count_missing_embeddings() == 1


def test_health_says_whether_the_sound_space_is_complete(
    tmp_path: Path, client: FlaskClient
) -> None:
    library = client.application.extensions["soundalike"].library
    files = tones(tmp_path / "music", [240, 480])
    library.insert_songs_bulk([old_song_row(p, n) for n, p in enumerate(files)])
    body = client.get("/api/health").get_json()
    assert body["sound_space"] == {"complete": False, "missing": 2}

    backfill_sounds(library)
    body = client.get("/api/health").get_json()
    assert body["sound_space"] == {"complete": True, "missing": 0}
    assert body["songs"] == 2


def test_a_retagged_song_without_the_sound_description_is_analysed_whole(
    tmp_path: Path, library: Library
) -> None:
    path = write_tone(tmp_path / "music" / "tone300.flac", freq_hz=300, seconds=LONG_S)
    window = decode_window(path, sr=SR, window_s=library.settings.window_s)
    library.insert_songs_bulk([old_song_row(path, 0) | {"audio_hash": audio_hash(window)}])
    write_tags(path, title="Retagged")

    # Same samples, but a refresh would leave the row without its description: analysed whole.
    report = index_paths(library, [path])
    assert (report.updated, report.refreshed, report.described) == (1, 0, 0)
    song = library.resolve_song(str(path))
    assert song.title == "Retagged"
    assert song.embedding_version == EMBEDDING_VERSION
    assert song.embedding is not None
    assert song.features != old_song_row(path, 0)["features"]
    assert library.count_missing_embeddings() == 0
