"""The Subsonic response envelope, in XML (the protocol's default) and JSON (``f=json``).

Shapes follow the OpenSubsonic documentation (opensubsonic.netlify.app: "subsonic-response",
"error", "getOpenSubsonicExtensions" and the ``sonicSimilarity`` extension's pages) and the
server that first shipped the extension, Navidrome (pull request navidrome/navidrome#5419,
released in 0.62): a ``sonicMatch`` list directly inside ``subsonic-response``, each item an
``entry`` (a Subsonic ``Child`` song) and a ``similarity`` in [0, 1]. In XML, like Navidrome,
``entry`` is an element whose fields are attributes and ``similarity`` an element holding the
number; an extension is ``<openSubsonicExtensions name=...>`` with one ``<versions>`` per version.
"""

from __future__ import annotations

import json
import mimetypes
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from db.models import Song
from db.repo import SongRow
from indexer.model.genre_labels import UNCERTAIN
from indexer.walks.gather import TEMPO

API_VERSION = "1.16.1"
SERVER_TYPE = "soundalike"
SERVER_VERSION = "1"
NAMESPACE = "http://subsonic.org/restapi"

# Subsonic error codes (the protocol's table, kept by OpenSubsonic).
GENERIC_ERROR = 0
MISSING_PARAMETER = 10
NOT_FOUND = 70

_CALLBACK = re.compile(r"^[A-Za-z_$][\w$.]{0,63}$")


@dataclass(frozen=True)
class SonicMatch:
    """A song (its Subsonic ``Child`` fields) and its similarity in [0, 1]."""

    entry: dict[str, Any]
    similarity: float


@dataclass(frozen=True)
class Reply:
    """What goes inside ``subsonic-response``: nothing (ping), an error, or one payload."""

    error: tuple[int, str] | None = None
    extensions: list[tuple[str, list[int]]] | None = None
    matches: list[SonicMatch] | None = None

    @property
    def status(self) -> str:
        """``failed`` with an error, else ``ok``."""
        return "failed" if self.error else "ok"


def similarity(cosine: float) -> float:
    """A cosine in [-1, 1] mapped to [0, 1] (1 = the same sound), as the extension wants.

    Affine rather than clipped, so neighbours with negative cosines keep their order.
    """
    return round(min(1.0, max(0.0, (1.0 + cosine) / 2.0)), 6)


def child(song: Song | SongRow) -> dict[str, Any]:
    """A song as a Subsonic ``Child``: id as a string, the file name only, never the server path.

    ``bpm`` is the tempo feature, rounded; ``genre`` is the predicted label unless uncertain.
    """
    name = Path(song.path).name
    suffix = Path(name).suffix.lstrip(".").lower()
    fields: dict[str, Any] = {
        "id": str(song.id),
        "isDir": False,
        "title": song.title,
        "album": song.album,
        "artist": song.artist,
        "genre": song.genre if song.genre and song.genre != UNCERTAIN else None,
        "size": song.size_bytes,
        "contentType": mimetypes.guess_type(name)[0] or "application/octet-stream",
        "suffix": suffix or None,
        "duration": round(song.duration_s),
        "path": name,
        "type": "music",
        "mediaType": "song",
        "bpm": round(float(song.feature_vector[TEMPO])),
    }
    return {key: value for key, value in fields.items() if value is not None}


def _envelope(reply: Reply) -> dict[str, Any]:
    return {
        "status": reply.status,
        "version": API_VERSION,
        "type": SERVER_TYPE,
        "serverVersion": SERVER_VERSION,
        "openSubsonic": True,
    }


def json_body(reply: Reply) -> dict[str, Any]:
    """The JSON form: ``{"subsonic-response": {...}}``."""
    body = _envelope(reply)
    if reply.error is not None:
        body["error"] = {"code": reply.error[0], "message": reply.error[1]}
    if reply.extensions is not None:
        body["openSubsonicExtensions"] = [
            {"name": name, "versions": versions} for name, versions in reply.extensions
        ]
    if reply.matches is not None:
        body["sonicMatch"] = [{"entry": m.entry, "similarity": m.similarity} for m in reply.matches]
    return {"subsonic-response": body}


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def xml_body(reply: Reply) -> bytes:
    """The XML form: a ``subsonic-response`` element in the Subsonic namespace."""
    attrs = {key: _xml_value(value) for key, value in _envelope(reply).items()}
    root = ET.Element("subsonic-response", {"xmlns": NAMESPACE, **attrs})
    if reply.error is not None:
        ET.SubElement(root, "error", {"code": str(reply.error[0]), "message": reply.error[1]})
    for name, versions in reply.extensions or []:
        element = ET.SubElement(root, "openSubsonicExtensions", {"name": name})
        for version in versions:
            ET.SubElement(element, "versions").text = str(version)
    for match in reply.matches or []:
        element = ET.SubElement(root, "sonicMatch")
        entry = {key: _xml_value(value) for key, value in match.entry.items()}
        ET.SubElement(element, "entry", entry)
        ET.SubElement(element, "similarity").text = repr(match.similarity)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def render(reply: Reply, *, fmt: str | None, callback: str | None) -> tuple[bytes, str]:
    """The body and content type for the client's ``f`` (xml unless json or jsonp is asked)."""
    if fmt == "json":
        return json.dumps(json_body(reply)).encode(), "application/json"
    if fmt == "jsonp" and callback and _CALLBACK.match(callback):
        text = f"{callback}({json.dumps(json_body(reply))});"
        return text.encode(), "application/javascript"
    return xml_body(reply), "text/xml; charset=utf-8"
