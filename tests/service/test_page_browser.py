"""The real page in headless Chromium (Debian's package) against a real server on SQLite.

A small part of the demo library is indexed and served once for the module. With
``SOUNDALIKE_SCREENSHOTS=docs/screenshots`` the whole demo library is served instead and the
main views are saved there as PNGs for the README.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.helpers import CLI, DEMO_LIBRARY, ROOT, make_settings, serving

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home, and this machine's closed network refuses it.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# Four recordings, each in two encodings: every song has a known nearest neighbour.
RECORDINGS = ["sorohanro_-_solo-trumpet-06", "456440__inspectorj__bird-whistling-robin-single-13"]
RECORDINGS += ["198-209-0000", "pibble"]
# Titles come from the file names when the tags have none.
TRUMPET = "sorohanro - solo-trumpet-06"
MAX_UPLOAD_BYTES = 1_048_576
SCREENSHOTS = os.environ.get("SOUNDALIKE_SCREENSHOTS")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path) -> Iterator[dict]:
    """A library indexed by the CLI and served by granian, with a 1 MiB upload limit."""
    tmp = tmp_path_factory.mktemp("page")
    music = tmp / "music"
    music.mkdir()
    if SCREENSHOTS:
        files = sorted(DEMO_LIBRARY.glob("*.ogg"))
    else:
        files = [DEMO_LIBRARY / f"{r}{ext}" for r in RECORDINGS for ext in (".ogg", ".hq.ogg")]
    for path in files:
        shutil.copy(path, music / path.name)
    data_dir = tmp / "data"
    db_url = f"sqlite:///{data_dir / 'soundalike.db'}"
    make_settings(data_dir, db_url, trained_model_dir)
    env = {
        **os.environ,
        "SOUNDALIKE_DATA_DIR": str(data_dir),
        "DATABASE_URL": db_url,
        "SOUNDALIKE_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
    }
    index = subprocess.run(
        [*CLI, "index", str(music), "--no-progress", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert index.returncode == 0, index.stderr
    stats = subprocess.run([*CLI, "stats", "--json"], env=env, capture_output=True, text=True)
    # Songs in the sound space, where the page's neighbours come from: the clips shorter than
    # the network's 3-s patch are only in the features space.
    sound_songs = json.loads(stats.stdout)["spaces"]["sound"]["indexed"]
    with serving(env, tmp / "server.log", workers=1) as base:
        yield {"base": base, "songs": len(files), "sound_songs": sound_songs, "tmp": tmp}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright; never a downloaded browser."""
    assert Path(CHROMIUM).exists(), "install Debian's chromium package (make test does)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, site: dict) -> Iterator[Page]:
    """A fresh tab on the page; fails the test if the page asks any other host for anything."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    elsewhere: list[str] = []
    script_errors: list[str] = []
    tab.on(
        "request",
        lambda r: None if r.url.startswith(site["base"]) else elsewhere.append(r.url),
    )
    tab.on("pageerror", lambda exc: script_errors.append(str(exc)))
    tab.goto(site["base"] + "/")
    expect(tab.locator("#songs li")).to_have_count(site["songs"])
    yield tab
    context.close()
    assert elsewhere == []
    assert script_errors == []


def shot(target: Page | Locator, name: str, **options: bool) -> None:
    """Save a screenshot of the page or one element for the README, when asked to."""
    if SCREENSHOTS:
        out = ROOT / SCREENSHOTS
        out.mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(out / f"{name}.png"), **options)


def test_search_as_you_type_with_genre_chips(page: Page) -> None:
    page.get_by_label("Title, artist or album").fill("trump")
    results = page.locator("#songs li")
    expect(results).to_have_count(2)
    for i in range(2):
        expect(results.nth(i).locator(".song-link")).to_contain_text("trumpet")
        expect(results.nth(i).locator(".chip")).to_have_count(1)
    expect(page.locator("#songs-count")).to_have_text("2 songs matching “trump”")
    page.locator("#q").fill("no such song")
    expect(results).to_have_count(0)
    expect(page.locator("#songs-count")).to_contain_text("No song matches")


def test_open_a_song_play_seek_and_walk_to_a_neighbour(page: Page, site: dict) -> None:
    ranges: list[int] = []
    page.on("response", lambda r: ranges.append(r.status) if "/audio" in r.url else None)
    page.locator("#q").fill("trumpet-06.hq")
    expect(page.locator("#songs li")).to_have_count(1)
    page.locator("#songs .song-link").first.click()
    song = page.locator("#song")
    expect(song.locator("h3")).to_have_text(f"{TRUMPET}.hq")
    expect(song.locator(".facts")).to_contain_text("sorohanro_-_solo-trumpet-06.hq.ogg")
    expect(song.locator(".genre-probs li")).to_have_count(3)
    neighbours = page.locator("#neighbours > li")
    expect(neighbours).to_have_count(min(10, site["sound_songs"] - 1))
    expect(neighbours.first.locator(".bar")).to_have_count(1)
    expect(neighbours.first.locator("audio")).to_have_count(1)
    scores = [float(t) for t in neighbours.locator(".row > .value").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    assert 0.9 < scores[0] <= 1  # the same recording in another encoding

    # The player loads the file, plays, and seeks: the server answers range requests.
    audio = song.locator("audio")
    audio.evaluate("a => { a.muted = true; return a.play(); }")
    page.wait_for_function("() => document.querySelector('#song audio').currentTime > 0")
    audio.evaluate(
        """a => new Promise(done => {
            a.addEventListener('seeked', done, {once: true});
            a.currentTime = a.duration - 0.5;
        })"""
    )
    assert audio.evaluate("a => a.currentTime") > 1
    assert audio.evaluate("a => a.error") is None
    assert 206 in ranges
    shot(page, "song")

    # Walk: the nearest neighbour is the other encoding of the same recording.
    first = neighbours.first.locator(".song-link")
    expect(first).to_have_text(TRUMPET)
    first.click()
    expect(page).to_have_url(f"{site['base']}/#/song/" + page.url.rsplit("/", 1)[-1])
    expect(song.locator("h3")).to_have_text(TRUMPET)
    expect(neighbours.first.locator(".song-link")).to_have_text(f"{TRUMPET}.hq")
    page.go_back()
    expect(song.locator("h3")).to_have_text(f"{TRUMPET}.hq")


def test_upload_a_clip(page: Page) -> None:
    page.locator("#file").set_input_files(str(DEMO_LIBRARY / "sorohanro_-_solo-trumpet-06.ogg"))
    expect(page.locator("#upload-msg")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#song h3")).to_have_text("Your clip: sorohanro_-_solo-trumpet-06.ogg")
    expect(page.locator("#song .genre-probs li")).to_have_count(3)
    first = page.locator("#neighbours > li").first
    expect(first.locator(".song-link")).to_have_text(TRUMPET)
    assert float(first.locator(".row > .value").inner_text()) > 0.999
    shot(page, "upload")


def test_drop_a_clip_on_the_box(page: Page) -> None:
    # A real drop event carrying a library song's bytes as a file, as a file manager sends it.
    link = page.locator("#songs .song-link").first
    title = link.inner_text()
    song_id = link.get_attribute("href").rsplit("/", 1)[-1]
    page.evaluate(
        """async (id) => {
            const blob = await (await fetch(`/api/songs/${id}/audio`)).blob();
            const data = new DataTransfer();
            data.items.add(new File([blob], "dropped.ogg", { type: "audio/ogg" }));
            document.querySelector("#drop").dispatchEvent(
                new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }""",
        song_id,
    )
    expect(page.locator("#upload-msg")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#song h3")).to_have_text("Your clip: dropped.ogg")
    expect(page.locator("#neighbours > li").first.locator(".song-link")).to_have_text(title)


def test_bad_files_get_clear_messages(page: Page, site: dict) -> None:
    message = page.locator("#upload-msg")
    notes = site["tmp"] / "notes.txt"
    notes.write_text("not music")
    page.locator("#file").set_input_files(str(notes))
    expect(message).to_contain_text("“notes.txt” is not an audio file")
    expect(message).to_have_class("error")

    fake = site["tmp"] / "lyrics.wav"
    fake.write_text("a text file with an audio name")
    page.locator("#file").set_input_files(str(fake))
    expect(message).to_contain_text("Could not read “lyrics.wav” as audio")

    big = DEMO_LIBRARY / "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"
    assert big.stat().st_size > MAX_UPLOAD_BYTES
    page.locator("#file").set_input_files(str(big))
    expect(message).to_contain_text("is too large: 1.8 MB, the limit is 1.0 MB")
    shot(page.locator("#upload-panel"), "upload-error")


def test_library_at_a_glance(page: Page, site: dict) -> None:
    status = page.locator("#index-status")
    expect(status).to_contain_text(f"Vectors in the index{site['songs']}")
    expect(page.locator("#status")).to_have_text(f"{site['songs']} songs · all indexed")
    counts = page.locator("#genres .value").all_inner_texts()
    assert sum(int(c.split()[0]) for c in counts) == site["songs"]
    points = page.locator("#map .point")
    expect(points).to_have_count(site["songs"])
    expect(page.locator("#map-h")).to_have_text("Map of all songs")  # not a sample
    assert page.locator("#legend .chip").count() == len(counts)
    shot(page.locator("#overview-panel"), "overview")

    # The open song's point moves to the end of the map (drawn on top): keep its label now.
    point = points.nth(3)
    song_id = point.get_attribute("data-id")
    name = point.get_attribute("aria-label").rsplit(" (", 1)[0]
    point.click()
    expect(page).to_have_url(f"{site['base']}/#/song/{song_id}")
    expect(page.locator("#song h3")).to_contain_text(name.split(" – ")[-1])
    expect(page.locator(f"#map .point.current[data-id='{song_id}']")).to_have_count(1)


def test_keyboard_only_on_a_phone_width_screen(page: Page, site: dict) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
    page.keyboard.press("/")
    page.keyboard.type("pibble")
    expect(page.locator("#songs li")).to_have_count(2)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#song h3")).to_contain_text("pibble")
    # Walking moves focus to the song, so the next Tab reaches its controls.
    assert page.evaluate("() => document.activeElement.id") == "song-panel"
    expect(page.locator("#neighbours > li")).to_have_count(min(10, site["sound_songs"] - 1))
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    labelled = page.evaluate(
        """() => [...document.querySelectorAll('input, audio')].every(
            e => e.labels?.length || e.getAttribute('aria-label'))"""
    )
    assert labelled
    shot(page, "phone", full_page=True)


def test_make_a_playlist_from_a_song_and_download_it(page: Page, site: dict) -> None:
    page.locator("#q").fill("trumpet-06.hq")
    expect(page.locator("#songs li")).to_have_count(1)
    page.locator("#songs .song-link").first.click()
    expect(page.locator("#song h3")).to_have_text(f"{TRUMPET}.hq")
    page.get_by_role("button", name="Make a playlist from this song").click()
    songs = page.locator("#playlist > li")
    # A small library: every song of the space that answers (sound), each once.
    expect(songs).to_have_count(site["sound_songs"])
    expect(songs.first).to_have_text(f"{TRUMPET}.hq")  # the seed opens it
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the playlist (M3U8)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".m3u8")
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    urls = lines[2::2]
    assert len(urls) == site["sound_songs"]
    assert all(url.startswith(site["base"] + "/api/songs/") for url in urls)
    assert lines[1].endswith(f",{TRUMPET}.hq")
