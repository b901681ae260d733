"""The OpenSubsonic sonic similarity calls under /rest, with the query strings clients send."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from flask import Flask

from tests.indexer.walks.gtzan_library import fill_gtzan_library

NS = "{http://subsonic.org/restapi}"
# Password auth as in the Navidrome pull request's curl (u, p, v, c, f), and token auth
# (t = md5(password + salt), s = salt) as Subsonic clients such as Feishin or DSub send it.
PASSWORD_AUTH = "u=admin&p=secret&v=1.16.1&c=test"
SALT = "c19b2d"
TOKEN_AUTH = (
    f"u=alice&t={hashlib.md5(b'sesame' + SALT.encode()).hexdigest()}&s={SALT}&v=1.16.1&c=Feishin"
)


@pytest.fixture
def filled(app: Flask, tmp_path: Path) -> list[int]:
    return fill_gtzan_library(app.extensions["soundalike"].library, tmp_path / "music")


def _json(app: Flask, url: str) -> dict:
    with app.test_client() as client:
        response = client.get(url)
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        return response.get_json()["subsonic-response"]


def _xml(app: Flask, url: str) -> ET.Element:
    with app.test_client() as client:
        response = client.get(url)
        assert response.status_code == 200
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.data)
    assert root.tag == f"{NS}subsonic-response"
    return root


@pytest.mark.parametrize("suffix", ["", ".view"])
def test_ping_and_extensions(app: Flask, suffix: str) -> None:
    root = _xml(app, f"/rest/ping{suffix}?{TOKEN_AUTH}")
    assert root.attrib["status"] == "ok"
    assert root.attrib["version"] == "1.16.1"
    assert root.attrib["openSubsonic"] == "true"
    assert {"type", "serverVersion"} <= set(root.attrib)
    assert list(root) == []

    body = _json(app, f"/rest/getOpenSubsonicExtensions{suffix}?f=json&v=1.16.1&c=test")
    assert body["status"] == "ok"
    assert body["openSubsonic"] is True
    assert {"name": "sonicSimilarity", "versions": [1]} in body["openSubsonicExtensions"]

    root = _xml(app, f"/rest/getOpenSubsonicExtensions{suffix}")
    extensions = root.findall(f"{NS}openSubsonicExtensions")
    assert [e.attrib["name"] for e in extensions] == ["sonicSimilarity"]
    assert [v.text for v in extensions[0].findall(f"{NS}versions")] == ["1"]


def test_similar_tracks_json(app: Flask, filled: list[int]) -> None:
    song = filled[3]
    body = _json(app, f"/rest/getSonicSimilarTracks.view?{TOKEN_AUTH}&f=json&id={song}&count=5")
    assert body["status"] == "ok"
    matches = body["sonicMatch"]
    assert len(matches) == 5
    ids = [m["entry"]["id"] for m in matches]
    assert all(isinstance(i, str) for i in ids)
    assert str(song) not in ids
    library = app.extensions["soundalike"].library
    # Subsonic cannot choose a space: the default rule, here features (the clips are short).
    space = library.answering_space(None)
    assert space == "features"
    _, expected = library.similar_to_song(song, k=5, space=space)
    assert ids == [str(n.song.id) for n in expected]
    scores = [m["similarity"] for m in matches]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    entry = matches[0]["entry"]
    assert entry["isDir"] is False
    assert entry["type"] == "music"
    assert entry["path"] == Path(entry["path"]).name  # the file name, never the server path
    assert isinstance(entry["duration"], int)
    assert {"title", "artist", "size", "suffix", "contentType", "bpm"} <= set(entry)

    default = _json(app, f"/rest/getSonicSimilarTracks?{PASSWORD_AUTH}&f=json&id={song}")
    assert len(default["sonicMatch"]) == 10
    # Counts outside what the call serves are clamped, not refused.
    fewest = _json(app, f"/rest/getSonicSimilarTracks?f=json&id={song}&count=0")
    assert len(fewest["sonicMatch"]) == 1
    most = _json(app, f"/rest/getSonicSimilarTracks?f=json&id={song}&count=100000")
    assert len(most["sonicMatch"]) == len(filled) - 1


def test_similar_tracks_xml(app: Flask, filled: list[int]) -> None:
    song = filled[3]
    root = _xml(app, f"/rest/getSonicSimilarTracks.view?{PASSWORD_AUTH}&id={song}&count=3")
    assert root.attrib["status"] == "ok"
    matches = root.findall(f"{NS}sonicMatch")
    assert len(matches) == 3
    for match in matches:
        entry = match.find(f"{NS}entry")
        assert entry is not None
        assert entry.attrib["id"].isdigit()
        assert entry.attrib["isDir"] == "false"
        assert 0.0 <= float(match.findtext(f"{NS}similarity")) <= 1.0


def test_find_sonic_path_json_and_xml(app: Flask, filled: list[int]) -> None:
    start, end = filled[0], filled[20]
    query = f"startSongId={start}&endSongId={end}&count=6"
    body = _json(app, f"/rest/findSonicPath.view?{PASSWORD_AUTH}&f=json&{query}")
    assert body["status"] == "ok"
    ids = [m["entry"]["id"] for m in body["sonicMatch"]]
    assert [ids[0], ids[-1]] == [str(start), str(end)]
    assert len(ids) == len(set(ids))
    assert 2 <= len(ids) <= 6
    assert body["sonicMatch"][0]["similarity"] == 1.0
    assert all(0.0 <= m["similarity"] <= 1.0 for m in body["sonicMatch"])

    root = _xml(app, f"/rest/findSonicPath?{TOKEN_AUTH}&{query}")
    xml_ids = [m.find(f"{NS}entry").attrib["id"] for m in root.findall(f"{NS}sonicMatch")]
    assert xml_ids == ids


def test_post_form_and_jsonp(app: Flask, filled: list[int]) -> None:
    with app.test_client() as client:
        response = client.post(
            "/rest/getSonicSimilarTracks.view",
            data={"u": "admin", "p": "enc:736563726574", "v": "1.16.1", "c": "DSub",
                  "f": "json", "id": str(filled[1]), "count": "2"},
        )  # fmt: skip
        assert len(response.get_json()["subsonic-response"]["sonicMatch"]) == 2
        response = client.get(f"/rest/ping.view?{PASSWORD_AUTH}&f=jsonp&callback=cb")
        assert response.data.startswith(b'cb({"subsonic-response": {"status": "ok"')


@pytest.mark.parametrize(
    ("call", "code"),
    [
        ("getSonicSimilarTracks", 10),
        ("getSonicSimilarTracks?id=999999", 70),
        ("getSonicSimilarTracks?id=abc", 70),
        ("getSonicSimilarTracks?id=1&count=many", 0),
        ("findSonicPath?endSongId=1", 10),
        ("findSonicPath?startSongId=1", 10),
        ("findSonicPath?startSongId=1&endSongId=999999", 70),
    ],
)
def test_errors_are_failed_envelopes(app: Flask, filled: list[int], call: str, code: int) -> None:
    separator = "&" if "?" in call else "?"
    body = _json(app, f"/rest/{call}{separator}{PASSWORD_AUTH}&f=json")
    assert body["status"] == "failed"
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "sonicMatch" not in body
    root = _xml(app, f"/rest/{call}{separator}{TOKEN_AUTH}")
    assert root.attrib["status"] == "failed"
    error = root.find(f"{NS}error")
    assert error is not None
    assert int(error.attrib["code"]) == code
