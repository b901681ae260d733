"""SIGKILL at random points: nothing indexed is lost or duplicated, and the index stays loadable."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from indexer.library import Library
from indexer.settings import Settings
from indexer.vectors.store import load_index, read_manifest
from tests.helpers import old_song_row, write_tones
from tests.reliability.procs import (
    assert_consistent,
    cli_env,
    count_described,
    count_rows,
    http,
    kill_after_progress,
    run_cli,
    start_server,
)

KILLS_PER_DATABASE = 4


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_index_survives_sigkill_at_random_points(tmp_path: Path, settings: Settings) -> None:
    music = tmp_path / "music"
    good = write_tones(music, [200 + 37 * i for i in range(12)], seconds=1.0)
    (music / "broken.mp3").write_text("not audio")
    rng = random.Random(5)
    finished_early, rows_seen = 0, []
    for _ in range(KILLS_PER_DATABASE):
        args = ["index", str(music), "--workers", "1", "--batch-size", "2", "--no-progress"]
        if not kill_after_progress(settings, args, extra_delay_s=rng.uniform(0.0, 1.0)):
            finished_early += 1
        rows_seen.append(count_rows(settings))
    final = run_cli(settings, "index", str(music), "--workers", "1", "--no-progress")
    assert final.returncode == 3, final.stderr
    assert "broken.mp3" in final.stderr
    assert_consistent(settings, {str(p) for p in good})
    print(
        f"index: {KILLS_PER_DATABASE} SIGKILL runs, {finished_early} finished before the kill, "
        f"rows after each kill: {rows_seen}"
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_backfill_survives_sigkill_and_a_rerun_finishes(tmp_path: Path, settings: Settings) -> None:
    tones = write_tones(tmp_path / "music", [210 + 45 * i for i in range(4)], seconds=3.2)
    library = Library(settings)
    library.insert_songs_bulk([old_song_row(path, n) for n, path in enumerate(tones)])
    before = {s.id: s.features for s in library.list_songs_after(limit=10)}
    args = ["backfill", "--workers", "1", "--batch-size", "1", "--no-progress"]
    killed = kill_after_progress(settings, args, extra_delay_s=0.3, progress=count_described)
    described_at_kill = count_described(settings)
    final = run_cli(settings, *args)
    assert final.returncode == 0, final.stderr
    try:
        assert library.count_missing_embeddings() == 0
        after = {s.id: s for s in library.list_songs_after(limit=10)}
        assert {i: s.features for i, s in after.items()} == before  # features never recomputed
        assert all(s.embedding is not None for s in after.values())
    finally:
        library.close()
    assert_consistent(settings, {str(path) for path in tones})
    print(
        f"backfill: killed={killed} with {described_at_kill} of {len(tones)} described; "
        f"re-run: {final.stdout.splitlines()[0]}"
    )


SAVE_LOOP = """
import sys, numpy as np
from pathlib import Path
from indexer.vectors.index import VectorIndex
from indexer.vectors.store import save_index
index_dir = Path(sys.argv[1])
rng = np.random.default_rng(0)
n = 1
while True:
    index = VectorIndex.empty(57)
    v = rng.standard_normal((n, 57)).astype("float32")
    index.add(np.arange(n), v / np.linalg.norm(v, axis=1, keepdims=True))
    save_index(index, index_dir, scaler_version="s", model_version="m", synced_at=None)
    print(n, flush=True)
    n = n % 2000 + 1
"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_crash_during_index_save_leaves_a_loadable_index(
    tmp_path: Path, settings: Settings
) -> None:
    index_dir = tmp_path / "index"
    rng = random.Random(7)
    kills = 8
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVE_LOOP, str(index_dir)],
            env=cli_env(settings),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one save is complete
        time.sleep(rng.uniform(0.0, 0.5))
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        index, manifest = load_index(index_dir)
        assert len(index) == manifest.count >= 1
    assert read_manifest(index_dir) is not None
    print(f"index save: {kills} SIGKILLs, the previous or new index loaded every time")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_add_survives_sigkill_while_the_service_runs(tmp_path: Path, settings: Settings) -> None:
    music = tmp_path / "music"
    first = write_tones(music, [300, 400, 500], seconds=1.0)
    assert run_cli(settings, "index", str(music), "--workers", "1", "--no-progress").returncode == 0
    server, base = start_server(settings, tmp_path / "server.log", workers=1)
    load = LoopbackLoad(base)
    load.start()
    try:
        incoming = write_tones(tmp_path / "incoming", [610, 720, 830, 940], seconds=1.0)
        rng = random.Random(11)
        rows_seen: list[int] = []
        for _ in range(2):
            args = ["add", *map(str, incoming)]
            kill_after_progress(settings, args, extra_delay_s=rng.uniform(0.0, 0.5))
            rows_seen.append(count_rows(settings))
            status, health = http(f"{base}/api/health")
            assert status == 200, health
        added = run_cli(settings, "add", *map(str, incoming))
        assert added.returncode == 0, added.stderr
        deadline = time.monotonic() + 10
        while http(f"{base}/api/health")[1]["indexed"] != 7:
            assert time.monotonic() < deadline, "new songs did not appear within 10 s"
            time.sleep(0.2)
        remove = run_cli(settings, "remove", str(first[0]))
        assert remove.returncode == 0, remove.stderr
    finally:
        load.stop()
        server.terminate()
        server.wait(timeout=30)
    assert_consistent(settings, {str(p) for p in [*first[1:], *incoming]})
    assert load.requests > 0
    assert load.server_errors == [], load.server_errors[:5]
    print(
        f"add under service: 2 SIGKILL runs, rows after each kill: {rows_seen}; "
        f"{load.requests} requests during the writes, statuses {dict(load.statuses)}"
    )


class LoopbackLoad(threading.Thread):
    """A bounded loop of reads on loopback, counting statuses, until stopped."""

    MAX_REQUESTS = 3000

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[tuple[str, int, dict]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        urls = ["/api/health", "/api/songs?limit=20", "/api/songs/1/similar?k=5"]
        while not self._stop_event.is_set() and self.requests < self.MAX_REQUESTS:
            url = self.base + urls[self.requests % len(urls)]
            status, body = http(url)
            self.requests += 1
            self.statuses[status] += 1
            if status >= 500:
                self.server_errors.append((url, status, body))
            if status == 200 and "neighbours" in body:
                # A half-written index would show as missing or duplicate neighbours.
                ids = [n["id"] for n in body["neighbours"]]
                assert len(ids) == len(set(ids))
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=60)
