"""``soundalike index --scheduler``: extraction on a Dask LocalCluster, rows in PostgreSQL."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from indexer.audio.analyse import (
    RecheckJob,
    Refreshed,
    SongRecord,
    SoundJob,
    SoundRecord,
    audio_hash,
)
from indexer.audio.decode import decode_window
from indexer.audio.features import SR
from indexer.cli import main
from indexer.cli.context import EXIT_SKIPPED
from indexer.ingest.cluster import analyse_on_cluster
from indexer.library import Library
from indexer.settings import Settings
from tests.helpers import write_tags, write_tone

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two single-threaded worker processes, as two small machines would be."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        scheduler_port=0,
        dashboard_address=None,
    ) as local:
        yield local


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    for i, freq in enumerate((220, 330, 440, 550, 660, 770)):
        write_tone(root / f"tone{freq}.{('wav', 'flac', 'ogg')[i % 3]}", freq_hz=freq, seconds=3.0)
    (root / "broken.mp3").write_bytes(b"\x00" * 4000)
    return root


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_index_on_a_cluster_writes_every_song_to_postgresql(
    cluster: LocalCluster, settings: Settings, music: Path
) -> None:
    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(
        main, ["index", str(music), "--scheduler", cluster.scheduler_address], env=env
    )

    assert result.exit_code == EXIT_SKIPPED, result.output
    assert "6 added" in result.output
    assert "broken.mp3" in result.output
    assert "7/7" in result.output  # the progress bar ran to the end
    library = Library(settings)
    try:
        states = library.file_states()
        assert sorted(Path(p).name for p in states) == sorted(
            p.name for p in music.iterdir() if p.name != "broken.mp3"
        )
        assert library.stats()["songs"] == 6
    finally:
        library.engine.dispose()


def test_files_of_a_lost_worker_are_retried(cluster: LocalCluster, tmp_path: Path) -> None:
    paths = [
        write_tone(tmp_path / f"tone{i}.wav", freq_hz=200 + 50 * i, seconds=8.0) for i in range(6)
    ]
    with Client(cluster) as client:
        pids = client.run(os.getpid)
        results = []
        for result in analyse_on_cluster(paths, scheduler=client, window_s=30.0):
            if not results:
                # Kill a worker outright while it holds files; its nanny starts a new one.
                os.kill(next(iter(pids.values())), signal.SIGKILL)
            results.append(result)

    assert all(isinstance(r, SongRecord) for r in results), results
    assert sorted(r.path for r in results) == sorted(str(p) for p in paths)


def test_the_cluster_runs_every_kind_of_work_item(cluster: LocalCluster, tmp_path: Path) -> None:
    new, retagged, unchanged = (
        write_tone(tmp_path / f"tone{f}.flac", freq_hz=f, seconds=3.2) for f in (220, 330, 440)
    )
    known = audio_hash(decode_window(retagged, sr=SR, window_s=30.0))
    write_tags(retagged, title="Retagged")
    stat = unchanged.stat()
    items = [
        new,
        RecheckJob(str(retagged), known),
        SoundJob(7, str(unchanged), stat.st_size, stat.st_mtime_ns),
    ]
    with Client(cluster) as client:
        results = {r.path: r for r in analyse_on_cluster(items, scheduler=client, window_s=30.0)}

    assert isinstance(results[str(new)], SongRecord)
    refreshed = results[str(retagged)]
    assert isinstance(refreshed, Refreshed)
    assert (refreshed.title, refreshed.audio_hash) == ("Retagged", known)
    described = results[str(unchanged)]
    assert isinstance(described, SoundRecord)
    assert described.sound is not None
    assert described.audio_hash == audio_hash(decode_window(unchanged, sr=SR, window_s=30.0))
