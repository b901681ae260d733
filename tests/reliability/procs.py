"""Run the real ``soundalike`` CLI and server as processes, and check a library's consistency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from indexer.library import Library
from indexer.settings import Settings
from indexer.vectors.store import load_index
from tests.helpers import CLI
from tests.helpers import start_server as serve_process


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that points the CLI at a test library."""
    return {
        **os.environ,
        "SOUNDALIKE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        # One process per command: worker pools would only add start-up time on two cores.
        "SOUNDALIKE_WORKERS": "1",
        **extra,
    }


def run_cli(settings: Settings, *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess:
    """Run one CLI command to the end."""
    return subprocess.run(
        [*CLI, *args], env=cli_env(settings), capture_output=True, text=True, timeout=timeout_s
    )


def kill_after(settings: Settings, args: list[str], *, delay_s: float) -> int | None:
    """Start a CLI command and SIGKILL it after ``delay_s``; its exit code if it finished first."""
    proc = subprocess.Popen(
        [*CLI, *args], env=cli_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        return proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return None


def kill_after_progress(
    settings: Settings,
    args: list[str],
    *,
    extra_delay_s: float,
    progress: Callable[[Settings], int] | None = None,
) -> bool:
    """Start a CLI command, SIGKILL it ``extra_delay_s`` after it first commits rows.

    Waiting for a commit puts the kill among the writes rather than in the slow start-up.
    ``progress`` counts what the command commits (default: the rows). Returns whether the
    command was killed (False when it finished first).
    """
    progress = progress or count_rows
    before = progress(settings)
    proc = subprocess.Popen(
        [*CLI, *args], env=cli_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and progress(settings) == before:
        assert time.monotonic() < deadline, "the command wrote nothing in 120 s"
        time.sleep(0.1)
    time.sleep(extra_delay_s)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return True


def assert_consistent(settings: Settings, expected_paths: set[str]) -> None:
    """Each expected file is a row exactly once, and the saved index holds exactly the rows."""
    library = Library(settings)
    try:
        # Keyed by path, so a path stored twice shows up as more songs than paths.
        rows = [(state.id, path) for path, state in library.file_states().items()]
        paths = [p for _, p in rows]
        assert library.count_songs() == len(paths), "a path is in the database twice"
        assert set(paths) == expected_paths
        # Every song is in the features space; in sound exactly those with a current embedding
        # (clips too short for the network are recorded, not missing).
        index, manifest = load_index(settings.index_dir / "features")
        ids = np.sort(index.ids())
        assert ids.tolist() == sorted(i for i, _ in rows), "index and database disagree"
        assert manifest.count == len(rows)
        sound, sound_manifest = load_index(settings.index_dir / "sound")
        songs = library.get_songs([i for i, _ in rows])
        described = {i for i, song in songs.items() if library.has_vector(song, "sound")}
        assert set(sound.ids().tolist()) == described, "sound index and database disagree"
        assert sound_manifest.count == len(described)
        assert sound_manifest.missing == library.count_missing_embeddings()
    finally:
        library.close()


def count_rows(settings: Settings) -> int:
    """Songs in the database right now."""
    library = Library(settings)
    try:
        return library.count_songs()
    finally:
        library.close()


def count_described(settings: Settings) -> int:
    """Songs that have the current sound description (or are recorded too short for it)."""
    library = Library(settings)
    try:
        return library.count_songs() - library.count_missing_embeddings()
    finally:
        library.close()


def http(url: str, *, method: str = "GET") -> tuple[int, dict]:
    """Status and JSON body of one loopback request (error statuses included)."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def start_server(settings: Settings, log_path: Path, *, workers: int = 2) -> tuple:
    """Start ``soundalike serve`` on a free loopback port; (process, base URL) once it answers."""
    return serve_process(cli_env(settings), log_path, workers=workers)
