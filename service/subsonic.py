"""The Subsonic protocol's sonic similarity calls, so Subsonic clients can use Soundalike.

Served under ``/rest/`` with and without the ``.view`` suffix, by GET or POST:

- ``ping``: the empty envelope.
- ``getOpenSubsonicExtensions``: advertises ``sonicSimilarity`` version 1.
- ``getSonicSimilarTracks?id=&count=10``: the ``count`` nearest songs, best first.
- ``findSonicPath?startSongId=&endSongId=&count=25``: at most ``count`` songs from start to end,
  walked as ``GET /api/path`` walks (``count - 1`` steps); similarity is to the start song.

Parameter names follow the OpenSubsonic pages of the ``sonicSimilarity`` extension; see
``service/subsonic_format.py`` for the response shapes. Ids are Soundalike song ids as strings.
``count`` is clamped to what the call supports (1–500 tracks; 2–101 path songs); a count that
is not an integer is an error.

Authentication: these calls only read, like the ``/api`` reads, so none is needed. The
credentials clients send (``u`` with ``p``, or ``u`` with ``t`` and ``s``, or ``apiKey``) and
``v`` and ``c`` are accepted and ignored; nothing here writes or reveals server paths.

Errors answer HTTP 200 with ``status="failed"`` and a Subsonic error code, as clients expect:
10 for a missing parameter, 70 for an unknown song, 0 for anything else malformed.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request

from indexer.errors import NotFoundError
from indexer.walks.path import find_path
from service.state import state
from service.subsonic_format import (
    GENERIC_ERROR,
    MISSING_PARAMETER,
    NOT_FOUND,
    Reply,
    SonicMatch,
    child,
    render,
    similarity,
)

bp = Blueprint("subsonic", __name__, url_prefix="/rest")

EXTENSIONS = [("sonicSimilarity", [1])]
MAX_TRACKS = 500
MAX_PATH_SONGS = 101


class SubsonicError(Exception):
    """A request the Subsonic way of failing answers: a code and a message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _param(name: str) -> str:
    value = request.values.get(name)
    if value is None or value == "":
        raise SubsonicError(MISSING_PARAMETER, f"required parameter is missing: {name}")
    return value


def _song_id(name: str) -> int:
    raw = _param(name)
    # Soundalike ids are decimal integers; anything else names no song.
    if not raw.isascii() or not raw.isdigit() or int(raw) > 2**31 - 1:
        raise SubsonicError(NOT_FOUND, f"song not found: {raw}")
    return int(raw)


def _count(*, default: int, low: int, high: int) -> int:
    raw = request.values.get("count")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SubsonicError(GENERIC_ERROR, f"count must be an integer, got {raw!r}") from None
    return min(high, max(low, value))


def ping() -> Reply:
    """The empty envelope: the server is there."""
    return Reply()


def get_open_subsonic_extensions() -> Reply:
    """The OpenSubsonic extensions served here."""
    return Reply(extensions=EXTENSIONS)


def get_sonic_similar_tracks() -> Reply:
    """The nearest songs to ``id``, best first, the song itself excluded."""
    song_id = _song_id("id")
    count = _count(default=10, low=1, high=MAX_TRACKS)
    st = state()
    # Subsonic clients cannot choose a space: the default, or features while it is incomplete.
    space = st.answering_space(None, seeds=[song_id])
    index, _ = st.index(space)
    _, neighbours = st.library.similar_to_song(song_id, k=count, index=index, space=space)
    return Reply(matches=[SonicMatch(child(n.song), similarity(n.score)) for n in neighbours])


def find_sonic_path() -> Reply:
    """A walk from ``startSongId`` to ``endSongId`` of at most ``count`` songs."""
    start = _song_id("startSongId")
    end = _song_id("endSongId")
    count = _count(default=25, low=2, high=MAX_PATH_SONGS)
    st = state()
    space = st.answering_space(None, seeds=[start, end])
    index, _ = st.index(space)
    path = find_path(st.library, start, end, steps=count - 1, index=index, space=space)
    return Reply(
        matches=[SonicMatch(child(s.song), similarity(s.similarity_to_start)) for s in path.steps]
    )


def _respond(handler: Callable[[], Reply]) -> Response:
    try:
        reply = handler()
    except SubsonicError as exc:
        reply = Reply(error=(exc.code, exc.message))
    except NotFoundError as exc:
        reply = Reply(error=(NOT_FOUND, str(exc)))
    body, content_type = render(
        reply, fmt=request.values.get("f"), callback=request.values.get("callback")
    )
    return Response(body, status=200, content_type=content_type)


CALLS: dict[str, Callable[[], Reply]] = {
    "ping": ping,
    "getOpenSubsonicExtensions": get_open_subsonic_extensions,
    "getSonicSimilarTracks": get_sonic_similar_tracks,
    "findSonicPath": find_sonic_path,
}


def _view(handler: Callable[[], Reply]) -> Callable[[], Response]:
    def view() -> Response:
        return _respond(handler)

    view.__doc__ = handler.__doc__
    return view


for _name, _handler in CALLS.items():
    _call_view = _view(_handler)
    for _rule in (f"/{_name}", f"/{_name}.view"):
        bp.add_url_rule(_rule, endpoint=_name, view_func=_call_view, methods=["GET", "POST"])
