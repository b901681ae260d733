"""A real MPD for the radio's tests: null audio output, a free loopback port, files in tmp.

Debian's ``mpd`` package provides the daemon (`make browser` and .ci/run install it when it is
missing); each test gets its own instance over its own music directory and database file.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mpd
import pytest

from tests.helpers import free_port

MPD = shutil.which("mpd") or "/usr/bin/mpd"


def wait_for(predicate: Callable[[], object], *, timeout_s: float = 30.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def connect(port: int) -> mpd.MPDClient:
    """A python-mpd2 client of the test MPD (disconnect it, or use `mpd_connection`)."""
    client = mpd.MPDClient()
    client.timeout = 30
    client.connect("127.0.0.1", port)
    return client


@contextmanager
def mpd_connection(port: int) -> Iterator[mpd.MPDClient]:
    """A python-mpd2 client of the test MPD for the block."""
    connection = connect(port)
    try:
        yield connection
    finally:
        connection.disconnect()


@contextmanager
def running_mpd(music_dir: Path, work: Path) -> Iterator[int]:
    """Start MPD over ``music_dir`` (its state in ``work``), scan it; yields the port."""
    if not Path(MPD).exists():
        pytest.fail("mpd is not installed: run `make browser` (Debian's mpd package)")
    work.mkdir(parents=True, exist_ok=True)
    (work / "playlists").mkdir(exist_ok=True)
    port = free_port()
    config = work / "mpd.conf"
    config.write_text(
        f'music_directory "{music_dir}"\n'
        f'db_file "{work / "mpd.db"}"\n'
        f'playlist_directory "{work / "playlists"}"\n'
        f'log_file "{work / "mpd.log"}"\n'
        'bind_to_address "127.0.0.1"\n'
        f'port "{port}"\n'
        'auto_update "no"\n'
        'zeroconf_enabled "no"\n'
        'audio_output {\n  type "null"\n  name "silence"\n  mixer_type "none"\n}\n'
    )
    process = subprocess.Popen(
        [MPD, "--no-daemon", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        first = None
        deadline = time.monotonic() + 30
        while first is None:
            try:
                first = connect(port)
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (work / "mpd.log").read_text() if (work / "mpd.log").exists() else ""
                    pytest.fail(f"mpd did not start:\n{log}")
                time.sleep(0.1)
        first.update()
        wait_for(lambda: "updating_db" not in first.status(), what="MPD's scan")
        first.disconnect()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
