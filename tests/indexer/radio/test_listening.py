"""The radio's reading of a listener, without a player: skips, likes, seeds and the window."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.radio.listening import (
    CONTEXT_SONGS,
    END_MARGIN_S,
    LIKED_SEEDS,
    SKIP_WINDOW_S,
    Listening,
    Verdict,
    judge,
)
from indexer.radio.player import PlayerError, parse_address
from indexer.radio.station import infer_music_dir


@pytest.mark.parametrize(
    ("elapsed_s", "duration_s", "expected"),
    [
        (0.0, 240.0, Verdict.SKIPPED),
        (SKIP_WINDOW_S - 0.1, 240.0, Verdict.SKIPPED),
        (SKIP_WINDOW_S + 0.1, 240.0, Verdict.LEFT),
        (240.0 - END_MARGIN_S + 0.01, 240.0, Verdict.LIKED),
        (240.0, 240.0, Verdict.LIKED),
        (3.0, 8.0, Verdict.SKIPPED),  # a short song left early
        (7.9, 8.0, Verdict.LIKED),  # a short song played out
        (5.0, None, Verdict.SKIPPED),  # a stream: no end to reach
        (100.0, None, Verdict.LEFT),
    ],
)
def test_judge(elapsed_s: float, duration_s: float | None, expected: Verdict) -> None:
    assert judge(elapsed_s=elapsed_s, duration_s=duration_s) is expected


def test_skips_become_negatives_and_leave_the_seeds() -> None:
    listening = Listening(repeat_window=10)
    for song in (1, 2, 3):
        listening.start(song)
    assert listening.leave(2, elapsed_s=4.0, duration_s=200.0) is Verdict.SKIPPED
    assert listening.seeds(current=4) == [4, 3, 1]
    assert listening.negatives(current=4) == [2]
    # The song playing now is a seed even if it was skipped once before.
    assert listening.seeds(current=2)[0] == 2
    assert listening.negatives(current=2) == []


def test_a_like_is_a_seed_until_skipped() -> None:
    listening = Listening(repeat_window=20)
    listening.start(7)
    assert listening.leave(7, elapsed_s=199.5, duration_s=200.0) is Verdict.LIKED
    for song in range(100, 100 + CONTEXT_SONGS + 2):
        listening.start(song)
    assert 7 in listening.seeds(current=None)  # out of the recent songs, still liked
    listening.start(7)
    listening.leave(7, elapsed_s=2.0, duration_s=200.0)
    assert 7 not in listening.liked
    assert 7 not in listening.seeds(current=None)
    assert listening.negatives(current=None) == [7]


def test_likes_are_bounded_and_newest_first() -> None:
    listening = Listening()
    for song in range(LIKED_SEEDS + 5):
        listening.leave(song, elapsed_s=60.0, duration_s=60.0)
    assert listening.liked == list(range(5, LIKED_SEEDS + 5))
    assert listening.seeds(current=None)[:2] == [LIKED_SEEDS + 4, LIKED_SEEDS + 3]


def test_repeat_window_forgets_old_songs() -> None:
    listening = Listening(repeat_window=3)
    for song in (1, 2, 3, 4):
        listening.start(song)
    listening.start(4)  # the same song read twice is played once
    assert listening.recent() == {2, 3, 4}
    with pytest.raises(ValueError, match="repeat_window"):
        Listening(repeat_window=0)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("localhost:6600", ("localhost", 6600, None)),
        ("music.lan", ("music.lan", 6600, None)),
        ("secret@127.0.0.1:6601", ("127.0.0.1", 6601, "secret")),
        ("[::1]:6602", ("::1", 6602, None)),
        ("/run/mpd/socket", ("/run/mpd/socket", None, None)),
        ("pw@/run/mpd/socket", ("/run/mpd/socket", None, "pw")),
    ],
)
def test_parse_address(address: str, expected: tuple) -> None:
    assert parse_address(address) == expected


def test_parse_address_refuses_a_bad_port() -> None:
    with pytest.raises(PlayerError, match="HOST:PORT"):
        parse_address("host:port")


def test_infer_music_dir() -> None:
    paths = ["/srv/music/a/b.flac", "/srv/music/c.flac", "/home/me/other/b.flac"]
    assert infer_music_dir(paths, "a/b.flac") == Path("/srv/music")
    assert infer_music_dir(paths, "c.flac") == Path("/srv/music")
    assert infer_music_dir(paths, "b.flac") is None  # two folders hold a b.flac
    assert infer_music_dir(paths, "zzz.flac") is None
