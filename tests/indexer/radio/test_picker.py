"""The radio's choice on a library (both databases), without a player."""

from __future__ import annotations

from pathlib import Path

from indexer.library import Library
from indexer.radio.listening import Listening
from indexer.radio.picker import pick_songs
from tests.indexer.walks.gtzan_library import PER_GENRE, fill_gtzan_library


def test_rules_of_the_session(library: Library, tmp_path: Path) -> None:
    ids = fill_gtzan_library(library, tmp_path / "music")
    songs = library.get_songs(ids)
    listening = Listening(repeat_window=10)
    for song_id in ids[:3]:
        listening.start(song_id)
    listening.leave(ids[1], elapsed_s=2.0, duration_s=30.0)
    queued = [ids[10], ids[20]]
    picks = pick_songs(library, listening, current=ids[3], queued=queued, count=4, max_per_artist=2)
    chosen = [p.song.id for p in picks]
    assert len(chosen) == 4 == len(set(chosen))
    assert not set(chosen) & {*ids[:4], *queued}
    artists = [songs[i].artist for i in [*ids[:4], *queued, *chosen]]
    # ids[:4] are four blues songs, already over the cap: no more blues.
    assert "blues" not in [songs[i].artist for i in chosen]
    for artist in set(artists) - {"blues"}:
        assert artists.count(artist) <= 2
    assert all([s.id for s in p.avoided] == [ids[1]] for p in picks)
    assert [s.id for s in picks[0].seeds] == [ids[3], ids[2], ids[0]]
    assert chosen == [p.song.id for p in sorted(picks, key=lambda p: -p.score)]


def test_playable_and_a_spent_library(library: Library, tmp_path: Path) -> None:
    ids = fill_gtzan_library(library, tmp_path / "music")
    songs = library.get_songs(ids)
    jazz = {i for i in ids if songs[i].artist == "jazz"}
    listening = Listening(repeat_window=len(ids))
    for song_id in ids:
        if song_id not in jazz:
            listening.start(song_id)
    picks = pick_songs(
        library,
        listening,
        current=ids[0],
        queued=[],
        count=PER_GENRE + 3,
        playable=lambda song: song.artist in ("jazz", "pop"),
    )
    chosen = [p.song.id for p in picks]
    assert len(chosen) == PER_GENRE + 3 == len(set(chosen))
    # The jazz songs were never played; then pop songs played a while ago come back.
    assert {i for i in chosen if not picks[chosen.index(i)].repeat} == jazz
    assert all(songs[p.song.id].artist == "pop" for p in picks if p.repeat)
    assert sum(p.repeat for p in picks) == 3


def test_nothing_to_start_from(library: Library, tmp_path: Path) -> None:
    fill_gtzan_library(library, tmp_path / "music")
    assert pick_songs(library, Listening(), current=None, queued=[], count=3) == []
    assert pick_songs(library, Listening(), current=10**6, queued=[], count=3) == []
