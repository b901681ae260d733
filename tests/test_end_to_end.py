"""End to end: index a real library, serve it with granian, query, add while serving, upload."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.ingest.pipeline import index_paths
from indexer.ingest.scan import scan_library
from indexer.library import Library
from tests.helpers import CLI, DEMO_LIBRARY, make_settings, multipart, serving, write_tone

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path) -> Library:
    """The bundled demo library indexed once on SQLite with two workers."""
    data_dir = tmp_path_factory.mktemp("demo-data")
    settings = make_settings(data_dir, f"sqlite:///{data_dir / 'db.sqlite'}", trained_model_dir)
    library = Library(settings)
    report = index_paths(library, scan_library(DEMO_LIBRARY), root=DEMO_LIBRARY, workers=2)
    assert report.skipped == []
    assert report.added == 28
    return library


def test_each_recording_finds_its_other_encoding_first(demo_library: Library) -> None:
    songs, _ = demo_library.search_songs(q=None, limit=100, offset=0)
    by_path = {Path(s.path).name: s for s in songs}
    misses = []
    for name, song in by_path.items():
        twin = (
            name.replace(".hq.ogg", ".ogg") if name.endswith(".hq.ogg") else name[:-4] + ".hq.ogg"
        )
        # In the space a query from this song answers from: sound, or features for the bird
        # clips shorter than the network's 3-s patch.
        space = demo_library.answering_space(None, seeds=[song.id])
        _, neighbours = demo_library.similar_to_song(song.id, k=1, space=space)
        if Path(neighbours[0].song.path).name != twin:
            misses.append((name, Path(neighbours[0].song.path).name))
    assert misses == []


def get_json(
    url: str, *, data: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture
def served(tmp_path: Path, db_url: str, trained_model_dir: Path) -> Iterator[dict]:
    """A temp library with broken files, indexed by the CLI and served by granian."""
    music = tmp_path / "music"
    music.mkdir()
    for name in (
        "sorohanro_-_solo-trumpet-06.ogg",
        "456440__inspectorj__bird-whistling-robin-single-13.ogg",
    ):
        shutil.copy(DEMO_LIBRARY / name, music / name)
    write_tone(music / "tone.flac", freq_hz=330, seconds=3.0)
    (music / "broken.flac").write_bytes(b"fLaC" + os.urandom(3000))
    (music / "lyrics.wav").write_text("a text file with an audio name")
    settings = make_settings(tmp_path / "data", db_url, trained_model_dir)
    env = {
        **os.environ,
        "SOUNDALIKE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": db_url,
        "SOUNDALIKE_ADMIN_TOKEN": "tok",
    }
    index = subprocess.run(
        [*CLI, "index", str(music), "--no-progress"], env=env, capture_output=True, text=True
    )
    assert index.returncode == 3, index.stderr
    assert "3 added" in index.stdout
    assert "broken.flac" in index.stderr
    assert "lyrics.wav" in index.stderr
    with serving(env, tmp_path / "server.log") as base:
        yield {"base": base, "env": env, "cli": CLI, "music": music, "tmp": tmp_path}


def test_serve_query_add_while_serving_and_upload(served: dict) -> None:
    base = served["base"]
    status, health = get_json(f"{base}/api/health")
    assert status == 200
    assert health["songs"] == 3
    assert health["indexed"] == 3

    _, page = get_json(f"{base}/api/songs?q=trumpet")
    trumpet = page["items"][0]
    status, similar = get_json(f"{base}/api/songs/{trumpet['id']}/similar?k=5")
    assert status == 200
    # The sound space answers; the bird clip (2.7 s) is too short for the network, so it is
    # only among the neighbours in the features space.
    assert similar["space"] == "sound"
    assert len(similar["neighbours"]) == 1
    _, every = get_json(f"{base}/api/songs/{trumpet['id']}/similar?k=5&space=features")
    assert len(every["neighbours"]) == 2
    assert all(n["genre"]["label"] for n in every["neighbours"])

    # The CLI adds the trumpet's other encoding while the server runs: no restart.
    twin = served["music"].parent / "incoming" / "trumpet-hq.ogg"
    twin.parent.mkdir()
    shutil.copy(DEMO_LIBRARY / "sorohanro_-_solo-trumpet-06.hq.ogg", twin)
    added = subprocess.run(
        [*served["cli"], "add", str(twin)], env=served["env"], capture_output=True, text=True
    )
    assert added.returncode == 0, added.stderr
    deadline = time.monotonic() + 10
    while True:
        _, similar = get_json(f"{base}/api/songs/{trumpet['id']}/similar?k=1")
        if similar["neighbours"] and similar["neighbours"][0]["title"] == "trumpet-hq":
            break
        assert time.monotonic() < deadline, similar
        time.sleep(0.2)

    body, headers = multipart(DEMO_LIBRARY / "sorohanro_-_solo-trumpet-06.ogg")
    status, result = get_json(f"{base}/api/similar?k=2", data=body, headers=headers)
    assert status == 200
    assert result["neighbours"][0]["id"] == trumpet["id"]
    assert result["neighbours"][0]["score"] > 0.999

    body, headers = multipart(served["music"] / "lyrics.wav")
    status, error = get_json(f"{base}/api/similar", data=body, headers=headers)
    assert status == 400
    assert error["error"] == "bad_audio"
