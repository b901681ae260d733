"""The radio against a real MPD: the queue never runs dry, nothing repeats, skips steer it.

MPD plays real clips on its null output at real time; the library holds GTZAN feature rows for
those files (tests/indexer/walks/gtzan_library.py), so songs of one genre are songs of one kind.
The radio runs in a thread, as ``soundalike radio`` runs it, and the test drives MPD as a
listener would, with python-mpd2.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import mpd
import numpy as np
import pytest

from indexer.library import Library
from indexer.radio.player import MpdPlayer
from indexer.radio.station import Event, Radio
from indexer.settings import Settings
from tests.helpers import CLI
from tests.indexer.radio.mpd_server import mpd_connection, running_mpd, wait_for

QUEUE = 5


@contextmanager
def radio_thread(library: Library, port: int, **options: object) -> Iterator[Radio]:
    """A `Radio` following the test MPD in a thread; stopped (and its error raised) after."""
    stop = threading.Event()
    failure: list[BaseException] = []
    radio = Radio(library, MpdPlayer(f"127.0.0.1:{port}", wait_timeout_s=0.2), **options)

    def run() -> None:
        try:
            radio.run(stop=stop.is_set)
        except BaseException as exc:  # handed to the test thread below
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield radio
    finally:
        stop.set()
        thread.join(timeout=30)
        radio.player.close()
    if failure:
        raise failure[0]


def uri(song_path: str, music: Path) -> str:
    return Path(song_path).relative_to(music).as_posix()


def upcoming(client: mpd.MPDClient) -> list[str]:
    """Files queued after the current song."""
    status = client.status()
    start = int(status.get("song", -1)) + 1
    return [song["file"] for song in client.playlistinfo()[start:]]


def current_file(client: mpd.MPDClient) -> str | None:
    return client.currentsong().get("file")


def test_queue_never_runs_dry_and_never_repeats(
    library: Library, filled: list[int], music: Path, mpd_port: int, mpd_client: mpd.MPDClient
) -> None:
    paths = {song.id: song.path for song in library.get_songs(filled).values()}
    by_uri = {uri(path, music): song_id for song_id, path in paths.items()}
    client = mpd_client
    client.add(uri(paths[filled[0]], music))
    client.play(0)
    events: list[Event] = []
    with radio_thread(library, mpd_port, queue=QUEUE, report=events.append) as radio:
        wait_for(lambda: len(upcoming(client)) >= QUEUE, what="the first fill")
        left: list[int] = []
        for _ in range(10):
            before = current_file(client)
            left.append(by_uri[before])
            client.next()
            wait_for(lambda b=before: current_file(client) not in (None, b), what="next song")
            wait_for(lambda: len(upcoming(client)) >= QUEUE, what="a refill")
            assert client.status()["state"] == "play"
        played = [by_uri[f] for f in [song["file"] for song in client.playlistinfo()]]
    assert len(played) == len(set(played)), "a song came back within the repeat window"
    assert len(played) >= 11 + QUEUE
    assert radio.music_dir == music  # found from MPD's path of the current song
    queued = [e for e in events if e.kind == "queued"]
    assert len(queued) == len(played) - 1
    assert all("near" in e.text and "cosine" in e.text for e in queued)
    # Every song left by `next` at once was a skip, and later choices steered away from them.
    assert set(left) <= set(radio.listening.skipped)
    assert any("away from" in e.text for e in queued)


def _mean_cosine(vectors: dict[int, np.ndarray], ids: list[int], to: list[int]) -> float:
    return float(np.mean([[vectors[i] @ vectors[j] for j in to] for i in ids]))


def test_two_early_skips_steer_the_next_songs_away(
    library: Library, filled: list[int], music: Path, mpd_port: int, mpd_client: mpd.MPDClient
) -> None:
    songs = library.get_songs(filled)
    # Distances in the space the radio answers from (these rows come from the GTZAN table,
    # with no sound vectors: features).
    space = library.answering_space(None, seeds=filled)
    index, _ = library.load_index(space=space)
    found = library.song_vectors([songs[i] for i in filled], index, space=space)
    vectors = dict(zip(filled, found, strict=True))
    seed = filled[0]
    genre = songs[seed].artist
    client = mpd_client
    client.add(uri(songs[seed].path, music))
    client.play(0)
    client.pause(1)
    with radio_thread(library, mpd_port, queue=QUEUE) as radio:
        wait_for(lambda: len(upcoming(client)) >= QUEUE, what="the first fill")
        by_uri = {uri(s.path, music): i for i, s in songs.items()}
        before = [by_uri[f] for f in upcoming(client)]
        # Two songs of the kind nearest the seed, not already queued: the ones to skip.
        kinds = {songs[i].artist for i in filled} - {genre}
        nearest_kind = max(
            kinds,
            key=lambda k: _mean_cosine(
                vectors, [i for i in filled if songs[i].artist == k], [seed]
            ),
        )
        candidates = [i for i in filled if songs[i].artist == nearest_kind and i not in before]
        skipped = sorted(candidates, key=lambda i: -float(vectors[i] @ vectors[seed]))[:2]
        for position, song_id in enumerate(skipped, start=1):
            client.addid(uri(songs[song_id].path, music), position)
        # The seed plays to its end (a like); each of the two is left at once (a skip).
        client.seekcur(float(client.status()["duration"]) - 0.3)
        client.pause(0)
        for song_id in skipped:
            wait_for(lambda s=song_id: radio.listening.played[-1] == s, what="the radio to see it")
            client.next()
        wait_for(lambda: len(radio.listening.skipped) == 2, what="two skips")
        assert radio.listening.liked == [seed]
        assert radio.listening.skipped == skipped
        # The listener clears what was queued; the radio fills the queue again.
        client.pause(1)
        position = int(client.status()["song"])
        client.delete((position + 1,))
        wait_for(lambda: len(upcoming(client)) >= QUEUE, what="the refill")
        after = [by_uri[f] for f in upcoming(client)][-QUEUE:]
    distance_before = 1 - _mean_cosine(vectors, before, skipped)
    distance_after = 1 - _mean_cosine(vectors, after, skipped)
    assert distance_after > distance_before, (distance_before, distance_after)


def test_played_to_the_end_is_liked_and_pulls(
    library: Library, filled: list[int], music: Path, mpd_port: int, mpd_client: mpd.MPDClient
) -> None:
    songs = library.get_songs(filled)
    client = mpd_client
    first, second = filled[0], filled[30]
    client.add(uri(songs[first].path, music))
    client.add(uri(songs[second].path, music))
    client.play(0)
    events: list[Event] = []
    with radio_thread(library, mpd_port, queue=QUEUE, report=events.append) as radio:
        wait_for(lambda: len(upcoming(client)) >= QUEUE, what="the first fill")
        client.seekcur(float(client.status()["duration"]) - 0.3)
        wait_for(lambda: radio.listening.liked == [first], what="the like")
        wait_for(lambda: radio.listening.played[-1] == second, what="the next song")
        client.pause(1)
        assert radio.listening.skipped == []
        assert radio.listening.seeds(current=second)[:2] == [second, first]
    liked = [e for e in events if e.kind == "liked"]
    assert [e.song.id for e in liked] == [first]
    assert "played to the end" in liked[0].text


def test_cli_radio_with_music_dir(
    library: Library, filled: list[int], music: Path, settings: Settings, tmp_path: Path
) -> None:
    # MPD sees the library through another path (a mount, a container's volume): the radio
    # is told where MPD's music directory lies in Soundalike's paths.
    view = tmp_path / "mpd-view"
    view.symlink_to(music, target_is_directory=True)
    songs = library.get_songs(filled)
    env = {
        **os.environ,
        "SOUNDALIKE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
    }
    with ExitStack() as stack:
        port = stack.enter_context(running_mpd(view, tmp_path / "mpd"))
        client = stack.enter_context(mpd_connection(port))
        client.add(uri(songs[filled[9]].path, music))
        client.play(0)
        log = tmp_path / "radio.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [*CLI, "radio", "--mpd", f"127.0.0.1:{port}", "--music-dir", str(music)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(
                lambda: len(upcoming(client)) >= QUEUE or process.poll() is not None,
                timeout_s=120,
                what="the command's first fill",
            )
            queued = upcoming(client)
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log.read_text()
    assert len(queued) >= QUEUE, text
    assert "Following MPD at 127.0.0.1" in text
    lines = [line for line in text.splitlines() if line.startswith("queued ")]
    assert len(lines) == len(queued), text
    for line, file in zip(lines, queued, strict=True):
        song = library.resolve_song(str(music / file))
        assert line.startswith(f"queued {song.artist} - {song.title} (cosine ")
        assert f"near {songs[filled[9]].artist} - {songs[filled[9]].title}" in line


def test_cli_radio_refuses_an_unreachable_mpd(settings: Settings, tmp_path: Path) -> None:
    from tests.helpers import free_port

    env = {
        **os.environ,
        "SOUNDALIKE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
    }
    result = subprocess.run(
        [*CLI, "radio", "--mpd", f"127.0.0.1:{free_port()}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "cannot talk to MPD at 127.0.0.1:" in result.stderr


@pytest.mark.parametrize("address", ["127.0.0.1:notaport"])
def test_cli_radio_refuses_a_bad_address(settings: Settings, address: str) -> None:
    env = {
        **os.environ,
        "SOUNDALIKE_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
    }
    result = subprocess.run(
        [*CLI, "radio", "--mpd", address], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "HOST:PORT" in result.stderr
