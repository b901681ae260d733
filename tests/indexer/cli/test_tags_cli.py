"""Tags on the command line: songs and neighbours print them, --tag filters, --tags seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.settings import Settings
from tests.helpers import noise, sine, stepped_tone, write_audio, write_tags
from tests.indexer.cli.test_cli import invoke


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    clips = {
        "Flute": sine(440.0, seconds=4.0),
        "Steps": stepped_tone([300.0, 600.0, 900.0, 1200.0], step_s=1.0),
        "Hiss": noise(seconds=4.0),
        "Short": sine(440.0, seconds=2.0),
    }
    for title, y in clips.items():
        write_tags(write_audio(root / f"{title.lower()}.flac", y), title=title)
    return root


def test_tags_on_the_command_line(runner: CliRunner, settings: Settings, music: Path) -> None:
    invoke(runner, settings, "index", str(music), "--workers", "1", "--no-progress")
    songs = invoke(runner, settings, "songs").output
    assert "tags: flute" in songs
    assert songs.count("tags:") == 3  # the 2-s clip is too short for the network

    short = str(music / "short.flac")
    table = invoke(runner, settings, "similar", short, "-k", "5", "--tag", "flute").output
    assert "Flute" in table
    assert "Steps" in table
    assert "Hiss" not in table
    assert "tags: " in table
    listed = json.loads(
        invoke(runner, settings, "similar", short, "--tag", "flute,electronic", "--json").output
    )
    assert [n["title"] for n in listed["neighbours"]] == ["Steps"]
    assert "flute" in [t["tag"] for t in listed["neighbours"][0]["tags"]]
    assert listed["song"]["tags"] == []

    explained = json.loads(
        invoke(runner, settings, "similar", str(music / "flute.flac"), "--explain", "--json").output
    )
    why = {n["title"]: n["explanation"] for n in explained["neighbours"]}
    assert "flute" in why["Steps"]["shared_tags"]
    assert why["Steps"]["summary"].startswith("both tagged")

    vocabulary = json.loads(invoke(runner, settings, "tags", "--json").output)
    assert vocabulary["songs_with_tags"] == 3
    flute = next(t for t in vocabulary["tags"] if t["tag"] == "flute")
    assert (flute["kind"], flute["songs"]) == ("instrument", 2)
    assert "flute" in invoke(runner, settings, "tags").output

    playlist = json.loads(
        invoke(runner, settings, "playlist", "--tags", "Flute", "--length", "3", "--json").output
    )
    seeds = [e["title"] for e in playlist["songs"] if e["seed"]]
    assert seeds == ["Flute", "Steps"]
    unknown = invoke(runner, settings, "playlist", "--tags", "trumpet")
    assert unknown.exit_code == 2
    assert "unknown tag 'trumpet'" in unknown.output
