"""Playlists, paths and their M3U8 export, on real GTZAN feature rows and on both databases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import main
from indexer.errors import NotFoundError, UnreachableError
from indexer.library import Library
from indexer.model.spaces import FEATURES
from indexer.settings import Settings
from indexer.walks.gather import TEMPO
from indexer.walks.m3u import m3u8_text
from indexer.walks.path import TEMPO_FALLING, TEMPO_RISING, find_path
from indexer.walks.playlist import build_playlist
from tests.indexer.walks.gtzan_library import fill_gtzan_library


@pytest.fixture
def filled(library: Library, tmp_path: Path) -> list[int]:
    return fill_gtzan_library(library, tmp_path / "music")


def _far_pairs(ids: list[int]) -> list[tuple[int, int]]:
    # Pairs across genres: far apart, so the walk has room for steps in between.
    return [(ids[0], ids[20]), (ids[9], ids[40]), (ids[30], ids[5]), (ids[17], ids[44])]


@pytest.mark.parametrize("steps", [1, 4, 10])
def test_path_starts_ends_and_never_moves_away(
    library: Library, filled: list[int], steps: int
) -> None:
    for start, end in _far_pairs(filled):
        path = find_path(library, start, end, steps=steps, space=FEATURES)
        ids = [s.song.id for s in path.steps]
        assert ids[0] == start
        assert ids[-1] == end
        assert len(ids) == len(set(ids))
        assert len(ids) <= steps + 1
        goal = [s.similarity_to_goal for s in path.steps]
        assert all(b > a for a, b in zip(goal[:-2], goal[1:-1], strict=True))
        assert goal == sorted(goal)
        assert goal[-1] == pytest.approx(1.0)
        previous = [s.similarity_to_previous for s in path.steps[1:]]
        assert path.smoothness == pytest.approx(sum(previous) / len(previous))
    assert len(find_path(library, filled[0], filled[20], steps=10, space=FEATURES).steps) > 2


@pytest.mark.parametrize("direction", [TEMPO_FALLING, TEMPO_RISING])
def test_path_keeps_the_tempo_direction(
    library: Library, filled: list[int], direction: str
) -> None:
    walked = 0
    for start, end in _far_pairs(filled) + [(b, a) for a, b in _far_pairs(filled)]:
        tempo_start, tempo_end = (
            library.resolve_song(str(i)).feature_vector[TEMPO] for i in (start, end)
        )
        if (tempo_end > tempo_start) == (direction == TEMPO_FALLING) and tempo_end != tempo_start:
            with pytest.raises(UnreachableError, match="tempo"):
                find_path(library, start, end, steps=10, direction=direction, space=FEATURES)
            continue
        path = find_path(library, start, end, steps=10, direction=direction, space=FEATURES)
        walked += 1
        tempi = [s.tempo_bpm for s in path.steps]
        assert tempi == sorted(tempi, reverse=direction == TEMPO_FALLING)
        assert [path.steps[0].song.id, path.steps[-1].song.id] == [start, end]
    assert walked >= 2  # each pair is walkable one way or the other


def test_path_errors(library: Library, filled: list[int]) -> None:
    with pytest.raises(NotFoundError):
        find_path(library, filled[0], 10**6, steps=3, space=FEATURES)
    single = find_path(library, filled[3], filled[3], steps=5, space=FEATURES)
    assert [s.song.id for s in single.steps] == [filled[3]]
    assert single.smoothness is None


def test_playlist_no_repeats_cap_and_seeds_first(library: Library, filled: list[int]) -> None:
    seeds = [filled[0], filled[1]]
    playlist = build_playlist(library, seeds, length=20, max_per_artist=4, space=FEATURES)
    ids = [e.song.id for e in playlist.entries]
    assert ids[:2] == seeds
    assert len(ids) == 20
    assert len(set(ids)) == 20
    assert max(Counter(e.song.artist for e in playlist.entries).values()) <= 4
    assert [e.seed for e in playlist.entries] == [True, True] + [False] * 18
    # Each next song is chosen from the nearest ones: the first move beats the seed's mean
    # cosine to the library.
    uncapped = build_playlist(library, [filled[0]], length=len(filled), space=FEATURES)
    index, _ = library.load_index(space=FEATURES)
    songs = library.get_songs(filled)
    vectors = library.song_vectors([songs[i] for i in filled], index, space=FEATURES)
    mean = float((vectors[1:] @ vectors[0]).mean())
    assert uncapped.entries[1].similarity_to_previous > mean
    assert len({e.song.id for e in uncapped.entries}) == len(filled)


def test_playlist_stops_when_the_cap_exhausts_the_library(
    library: Library, filled: list[int]
) -> None:
    playlist = build_playlist(library, [filled[0]], length=40, max_per_artist=2, space=FEATURES)
    assert len(playlist.entries) == 12  # six genre-artists, two songs each
    with pytest.raises(NotFoundError):
        build_playlist(library, [filled[0], 10**6], length=5, space=FEATURES)


def test_m3u8_paths_are_relative_to_the_playlist(
    library: Library, filled: list[int], tmp_path: Path
) -> None:
    playlist = build_playlist(library, [filled[0]], length=5, space=FEATURES)
    songs = [e.song for e in playlist.entries]
    folder = tmp_path / "lists" / "mine"
    text = m3u8_text(songs, folder=folder)
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    for song, info, path in zip(songs, lines[1::2], lines[2::2], strict=True):
        assert info == f"#EXTINF:{round(song.duration_s)},{song.artist} - {song.title}"
        assert path.startswith("../../music/")
        assert (folder / path).resolve() == Path(song.path).resolve()


def invoke(runner: CliRunner, settings: Settings, *args: str):
    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def test_cli_playlist_writes_an_m3u8_that_resolves(
    runner: CliRunner, settings: Settings, library: Library, filled: list[int], tmp_path: Path
) -> None:
    out = tmp_path / "mixes" / "mix.m3u8"
    seed_path = library.resolve_song(str(filled[0])).path
    result = invoke(
        runner, settings, "playlist", seed_path, str(filled[1]), "--length", "6",
        "--max-per-artist", "3", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Smoothness: 0." in result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    paths = [(out.parent / line).resolve() for line in lines[2::2]]
    assert len(paths) == 6
    assert all(p.is_file() for p in paths)
    assert paths[0] == Path(seed_path).resolve()
    assert not any(Path(line).is_absolute() for line in lines[2::2])

    result = invoke(runner, settings, "playlist", "999999")
    assert result.exit_code != 0
    assert "no song" in result.output


def test_cli_path_prints_smoothness_and_json(
    runner: CliRunner, settings: Settings, library: Library, filled: list[int], tmp_path: Path
) -> None:
    start, end = str(filled[0]), str(filled[20])
    out = tmp_path / "walk.m3u8"
    table = invoke(runner, settings, "path", start, end, "--steps", "6", "--out", str(out))
    assert table.exit_code == 0, table.output
    assert "Smoothness: 0." in table.output
    paths = [(out.parent / line).resolve() for line in out.read_text().splitlines()[2::2]]
    assert paths[0] == Path(library.resolve_song(start).path).resolve()
    assert paths[-1] == Path(library.resolve_song(end).path).resolve()
    payload = json.loads(invoke(runner, settings, "path", start, end, "--json").output)
    assert payload["path"][0]["id"] == filled[0]
    assert payload["path"][-1]["id"] == filled[20]
    assert 0 < payload["smoothness"] <= 1
    slower = invoke(runner, settings, "path", start, end, "--direction", TEMPO_RISING)
    assert slower.exit_code != 0
    assert "rising tempo" in slower.output
